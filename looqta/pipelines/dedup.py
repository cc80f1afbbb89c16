"""One item per product per crawl: a product a site shows twice is kept the first time.

Sites repeat products within one search: an ad and its organic result (amazon), two sellers'
offers of one SKU (noon). The spider reads every card as it comes (a page it must read again in
the browser yields its cards again), so repeats are dropped here, after the page checks and
after validation (a first sighting validation drops must not hide a good second one), quietly
(``looqta/dedup/dropped``), not as errors. In a warm crawler, once per product per search.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem

from looqta.search.tracker import search_tracker_opened

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

    from looqta.search.tracker import SearchTracker


class DedupPipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.stats = crawler.stats
        self._seen: set[tuple[Any, Any]] = set()
        self.tracker: SearchTracker | None = None
        crawler.signals.connect(self._tracker_opened, signal=search_tracker_opened)

    def _tracker_opened(self, tracker: SearchTracker) -> None:
        self.tracker = tracker

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        adapter = ItemAdapter(item)
        key = (adapter.get("source"), adapter.get("source_id"))
        if key[1] is None:
            return item  # validation reports it
        seen = None if self.tracker is None else self.tracker.seen(item, "dedup")
        if seen is None:
            seen = self._seen  # this crawl's (a warm crawler's: each search's, kept by its tracker)
        if key in seen:
            self.stats.inc_value("looqta/dedup/dropped")
            raise DropItem(f"{key[0]}:{key[1]} already yielded in this crawl", log_level="DEBUG")
        seen.add(key)
        return item
