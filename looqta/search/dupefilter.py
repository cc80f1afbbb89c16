"""A dupefilter per search: a warm crawler fetches a page once within a search, again in the next one.

Scrapy's ``RFPDupeFilter`` remembers fingerprints for the whole crawl, so a warm crawler (one crawl,
many searches) would fetch nothing for the second search of a query. Here a search's requests
(``looqta_search_id`` in ``meta``) are remembered with their search, in the set the tracker keeps
for it (``SearchRun.seen``) and drops when the search ends; other requests go to Scrapy's filter.
A warm crawler installs it (looqta.search.warm); ``dont_filter`` still bypasses it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.dupefilters import RFPDupeFilter

from looqta.search.tracker import SEARCH_ID_META_KEY, search_tracker_opened

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request
    from scrapy.crawler import Crawler

    from looqta.search.tracker import SearchTracker

#: The tracker's per-search set this filter keeps its fingerprints in.
SEEN_NAMESPACE = "requests"


class SearchDupeFilter(RFPDupeFilter):
    tracker: SearchTracker | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        dupefilter = super().from_crawler(crawler)
        dupefilter.listen(crawler)
        return dupefilter

    def listen(self, crawler: Crawler) -> None:
        """Take the warm spider's tracker when it opens (``search_tracker_opened``)."""
        crawler.signals.connect(self._tracker_opened, signal=search_tracker_opened)

    def _tracker_opened(self, tracker: SearchTracker) -> None:
        self.tracker = tracker

    def request_seen(self, request: Request) -> bool:
        search_id = request.meta.get(SEARCH_ID_META_KEY)
        if self.tracker is None or not search_id:
            return super().request_seen(request)
        seen = self.tracker.seen_in(search_id, SEEN_NAMESPACE)
        if seen is None:  # not a running search's: as in any crawl
            return super().request_seen(request)
        fingerprint = self.fingerprinter.fingerprint(request)
        if fingerprint in seen:
            return True
        seen.add(fingerprint)
        return False
