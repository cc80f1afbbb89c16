"""scrapy-playwright's download handler, with rendered pages taken from a pool.

:class:`PooledPlaywrightDownloadHandler` leases an open page from a
:class:`~looqta.pagepool.pool.PagePool`, renders the request in it with scrapy-playwright's own
code and gives it back to be reset; other requests take scrapy-playwright's unchanged path. At
most :attr:`page_limit` pages render at once (:meth:`set_page_limit`, driven by the throttle).
Which requests are pooled, failures and retries: ``docs/pagepool.md``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from playwright.async_api import Error as PlaywrightError
from scrapy.exceptions import DownloadTimeoutError, NotSupported
from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler

from looqta import internals
from looqta.browser import ABORTED_RESOURCE_TYPES, should_abort_request
from looqta.guard.middleware import origin_guard_opened
from looqta.pagepool.config import PagePoolConfig
from looqta.pagepool.contexts import HandlerContexts
from looqta.pagepool.limiter import PageLimiter
from looqta.pagepool.pool import STATS_PREFIX, PagePool
from looqta.pagepool.rules import (
    PAGE_FAILURE_RETRIES,
    POOL_META_KEY,
    changes_page_settings,
    page_failure,
    without_image_loading,
)
from looqta.pagepool.signals import page_pool_opened
from looqta.throttle.controls import register
from looqta.throttle.pages import PooledPages

if TYPE_CHECKING:
    from collections.abc import Callable

    from playwright.async_api import BrowserContext
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response

    from looqta.guard.middleware import OriginGuard
    from looqta.pagepool.page import PooledPage

logger = logging.getLogger(__name__)


class PooledPlaywrightDownloadHandler(ScrapyPlaywrightDownloadHandler):
    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.pool_config = PagePoolConfig.from_settings(crawler.settings)
        if internals.uses_threaded_loop(self):
            raise NotSupported("the page pool needs the reactor's event loop, not a threaded loop")
        internals.warn_on_other_versions()
        internals.check_overridden_hooks(ScrapyPlaywrightDownloadHandler)
        if self.pool_config.enabled and internals.abort_request_rule(self) is should_abort_request:
            # looqta's rule aborts every image anyway: have the browser not request them.
            assert "image" in ABORTED_RESOURCE_TYPES
            internals.set_launch_options(self, without_image_loading(internals.launch_options(self)))
        self._page_limiter = PageLimiter(self.pool_config.max_pages)
        self._contexts = HandlerContexts(self, crawler)
        self._page_pool = PagePool(
            self.pool_config,
            self._page_limiter,
            crawler.stats,
            contexts=self._contexts,
            on_page_opened=self._contexts.page_opened,
        )
        self._pool_stats = crawler.stats
        self._launched = False
        self._lazy_launch_lock = asyncio.Lock()
        self._default_download_timeout = crawler.settings.getfloat("DOWNLOAD_TIMEOUT")
        self._pool_stats.set_value(f"{STATS_PREFIX}/page_limit", self._page_limiter.limit)
        self._pool_stats.set_value(f"{STATS_PREFIX}/in_use", 0)
        crawler.signals.send_catch_log(page_pool_opened, handler=self)
        crawler.signals.connect(self._origin_guard_opened, signal=origin_guard_opened)
        register(crawler, PooledPages(self))

    def _origin_guard_opened(self, guard: OriginGuard) -> None:
        """Rendered pages' own requests (pooled or not) pass the crawl's origin guard first."""
        internals.set_abort_request_rule(self, guard.browser_rule(internals.abort_request_rule(self)))

    # --- run-time knobs (the throttle, through PooledPages) -------------------------------------

    @property
    def page_limit(self) -> int:
        """How many pages may render at once, across this handler's browser."""
        return self._page_limiter.limit

    @property
    def pages_in_use(self) -> int:
        return self._page_limiter.in_use

    def set_page_limit(self, n: int) -> None:
        """Let at most ``n`` pages (>= 1) render at once from now on.

        Raising it starts waiting renders at once. Lowering it never stops a
        page that is rendering: new renders wait until fewer than ``n`` are,
        and idle pooled pages over ``n`` are closed.
        """
        old = self._page_limiter.limit
        self._page_limiter.set_limit(n)
        self._pool_stats.set_value(f"{STATS_PREFIX}/page_limit", n)
        if n != old:
            logger.info("Page limit %d -> %d (%d rendering now)", old, n, self._page_limiter.in_use)
        if n < old and self._page_pool.idle:
            self._page_pool.trim_soon()

    def recycle_contexts(self) -> None:
        """Replace every pooled browser context: idle ones now, busy ones when their request ends."""
        self._page_pool.recycle_contexts_soon()

    # --- Scrapy's download handler API, and scrapy-playwright's hooks ----------------------------

    async def download_request(self, request: Request) -> Response:
        if not request.meta.get("playwright"):
            return await super().download_request(request)
        await self._launch_once()
        await self._page_limiter.acquire()
        self._count_in_use()
        try:
            if self._is_pooled(request):
                return await self._download_pooled(request)
            return await super().download_request(request)
        finally:
            self._page_limiter.release()
            self._count_in_use()

    async def _maybe_launch_in_thread(self) -> None:
        """Start the Playwright driver with the first rendered request, not at the engine's start
        (Scrapy builds one handler per scheme, each would start a driver); at once only when
        startup contexts (``PLAYWRIGHT_CONTEXTS``) are wanted."""
        if internals.startup_context_kwargs(self):
            await self._launch_once()

    async def _launch_once(self) -> None:
        if self._launched:
            return
        async with self._lazy_launch_lock:
            if not self._launched:
                await internals.launch(self)
                self._launched = True

    async def _close(self) -> None:
        await self._page_pool.close()
        await internals.close_handler(self)

    def _make_close_browser_context_callback(
        self, name: str, persistent: bool, remote: bool, spider: Spider | None = None
    ) -> Callable[[BrowserContext], None]:
        return self._contexts.close_callback(name, persistent, remote, spider)

    # --- the pooled path -------------------------------------------------------------------------

    def _is_pooled(self, request: Request) -> bool:
        meta = request.meta
        if not self.pool_config.enabled or meta.get(POOL_META_KEY) is False:
            return False
        if meta.get("playwright_include_page") or meta.get("playwright_page") is not None:
            return False  # the spider owns that page, it cannot come back to the pool
        name = meta.get("playwright_context", internals.default_context_name())
        kwargs = self._contexts.options_for(name, meta.get("playwright_context_kwargs"))
        return not kwargs.get(internals.persistent_context_key())

    async def _download_pooled(self, request: Request) -> Response:
        spider = self.crawler.spider
        name = request.meta.setdefault("playwright_context", internals.default_context_name())
        timeout = float(request.meta.get("download_timeout") or self._default_download_timeout)
        retries = 0
        while True:
            pooled = await self._page_pool.acquire(name)
            try:
                response = await asyncio.wait_for(self._render(request, pooled, spider), timeout)
            except (PlaywrightError, TimeoutError) as exc:
                failure = page_failure(pooled, exc)
                if failure is None:  # e.g. a network error: the page itself is fine
                    await self._page_pool.release(pooled)
                    raise
                await self._page_pool.discard(pooled, failure)
                if retries < PAGE_FAILURE_RETRIES:
                    retries += 1
                    self._pool_stats.inc_value(f"{STATS_PREFIX}/retries")
                    logger.warning(
                        "Page %s while rendering %s (%r); rendering it again on a new page",
                        failure,
                        request,
                        exc,
                        extra={"spider": spider},
                    )
                    continue
                if isinstance(exc, TimeoutError):
                    raise DownloadTimeoutError(
                        f"rendering {request.url} took longer than {timeout} s"
                    ) from exc
                raise
            except asyncio.CancelledError:
                await self._page_pool.discard(pooled, "cancelled")
                raise
            except Exception:
                await self._page_pool.release(pooled)  # the reset decides whether the page can serve again
                raise
            await self._page_pool.release(pooled)
            return response

    async def _render(self, request: Request, pooled: PooledPage, spider: Spider) -> Response:
        """scrapy-playwright's rendering of one request, on a page it must not close."""
        page = pooled.page
        meta = request.meta
        context_name = meta["playwright_context"]
        pooled.route_handler = internals.request_handler(self, request, context_name, spider)
        if meta.get("playwright_page_init_callback") or changes_page_settings(
            meta.get("playwright_page_methods")
        ):
            pooled.tainted = True
        listeners = self._request_listeners(request, spider)
        for event, listener in listeners:
            page.on(event, listener)
        try:
            await internals.run_page_init_callback(page, request, context_name, spider)
            # scrapy-playwright closes the page after rendering unless the spider asked for it.
            meta["playwright_include_page"] = True
            return await internals.render_with_page(self, request, page, spider)
        finally:
            meta.pop("playwright_include_page", None)
            meta.pop("playwright_page", None)
            for event, listener in listeners:
                page.remove_listener(event, listener)

    def _request_listeners(self, request: Request, spider: Spider) -> list[tuple[str, Callable[..., Any]]]:
        """``playwright_page_event_handlers`` resolved as scrapy-playwright does, to detach later."""
        listeners: list[tuple[str, Callable[..., Any]]] = []
        for event, handler in (request.meta.get("playwright_page_event_handlers") or {}).items():
            if callable(handler):
                listeners.append((event, handler))
            elif isinstance(handler, str) and callable(getattr(spider, handler, None)):
                listeners.append((event, getattr(spider, handler)))
            else:
                logger.warning(
                    "Ignoring page event handler %r for %r: not a callable or a spider method",
                    handler,
                    event,
                    extra={"spider": spider},
                )
        return listeners

    def _count_in_use(self) -> None:
        in_use = self._page_limiter.in_use
        self._pool_stats.set_value(f"{STATS_PREFIX}/in_use", in_use)
        self._pool_stats.max_value(f"{STATS_PREFIX}/in_use_max", in_use)
