"""Browser or plain HTTP: count each, and refuse browser contexts that would hang the crawl.

scrapy-playwright waits for a free context slot when a request names a new
``playwright_context`` and ``PLAYWRIGHT_MAX_CONTEXTS`` are already open; those
contexts only close when asked to, so one name too many waits forever. This
middleware refuses such a request up front, with a reason and a stat.

It also registers plain scrapy-playwright handlers' page semaphores with the throttle
(:class:`~looqta.throttle.pages.PlaywrightPages`) when the engine starts; page-pool handlers
register their own control.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.exceptions import IgnoreRequest

from looqta import internals
from looqta.pagepool.handler import PooledPlaywrightDownloadHandler
from looqta.throttle.controls import register
from looqta.throttle.pages import PlaywrightPages

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

logger = logging.getLogger(__name__)


class RenderMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.max_contexts = crawler.settings.getint("PLAYWRIGHT_MAX_CONTEXTS")
        self.contexts: set[str] = set(crawler.settings.getdict("PLAYWRIGHT_CONTEXTS")) or {"default"}
        crawler.signals.connect(self._engine_started, signal=signals.engine_started)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def _engine_started(self) -> None:
        handlers = internals.playwright_handlers(self.crawler)
        plain = [h for h in handlers if not isinstance(h, PooledPlaywrightDownloadHandler)]
        if plain:
            register(self.crawler, PlaywrightPages(plain))

    def process_request(self, request: Request) -> None:
        if not request.meta.get("playwright"):
            return
        name = request.meta.get("playwright_context", "default")
        if name in self.contexts:
            return
        if len(self.contexts) >= self.max_contexts:
            self.stats.inc_value("looqta/render/context_refused")
            logger.error(
                "Refusing %s: browser context %r would be context %d of PLAYWRIGHT_MAX_CONTEXTS=%d "
                "and the crawl would wait forever for it",
                request.url,
                name,
                len(self.contexts) + 1,
                self.max_contexts,
            )
            raise IgnoreRequest(f"browser context {name!r} over PLAYWRIGHT_MAX_CONTEXTS")
        self.contexts.add(name)

    def process_response(self, request: Request, response: Response) -> Response:
        kind = "browser" if request.meta.get("playwright") else "http"
        self.stats.inc_value(f"looqta/render/{kind}")
        return response
