"""Spider middleware: a warm search's callback output counted by its tracker (looqta.search.tracker).

Placed nearest the engine, it sees what the other spider middlewares let through (a page
``PageCheckMiddleware`` asks to read again included). Inactive until a warm spider registers its
tracker (``search_tracker_opened``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from looqta.search.tracker import SEARCH_ID_META_KEY, search_tracker_opened

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.http import Response

    from looqta.search.tracker import SearchTracker


class SearchOutputMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        self.tracker: SearchTracker | None = None
        crawler.signals.connect(self._tracker_opened, signal=search_tracker_opened)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def _tracker_opened(self, tracker: SearchTracker) -> None:
        self.tracker = tracker

    async def process_spider_output(
        self, response: Response, result: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        tracker, request = self.tracker, response.request
        if tracker is None or request is None or SEARCH_ID_META_KEY not in request.meta:
            async for out in result:
                yield out
            return
        try:
            async for out in result:
                yield tracker.output(request, out)
        finally:
            tracker.close(request)
