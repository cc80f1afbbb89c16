"""Spider middleware: a warm search's callback output counted by its tracker (looqta.search.tracker).

Placed nearest the engine, it sees what the other spider middlewares let through (a page
``PageCheckMiddleware`` asks to read again included). Inactive until a warm spider registers its
tracker (``search_tracker_opened``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from looqta.search.tracker import SEARCH_ID_META_KEY, UsesSearchTracker

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from scrapy.http import Response


class SearchOutputMiddleware(UsesSearchTracker):
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
