"""Item pipeline: a warm search's item is streamed as an ``offer`` once it passed validation and dedup.

A shopper waits for offers, not for their storage: the store and files pipelines (product pages'
images downloaded and hashed) come after this one, so an offer no longer waits for them. A warm
crawler installs it at ``OFFER_PIPELINE_PRIORITY`` (looqta.search.warm) and its tracker sends the
offer (``SearchTracker.offer``, once per item); an item a later pipeline drops has been shown
already. Inactive until a warm spider registers its tracker (``search_tracker_opened``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from looqta.search.tracker import search_tracker_opened

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

    from looqta.search.tracker import SearchTracker


class SearchOfferPipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.tracker: SearchTracker | None = None
        crawler.signals.connect(self._tracker_opened, signal=search_tracker_opened)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def _tracker_opened(self, tracker: SearchTracker) -> None:
        self.tracker = tracker

    def process_item(self, item: Any) -> Any:
        if self.tracker is not None:
            self.tracker.offer(item)
        return item
