"""scrapy-playwright's download handler, with rendered pages taken from a pool.

scrapy-playwright opens a page for every rendered request and closes it
afterwards. :class:`PooledPlaywrightDownloadHandler` leases an open page from a
:class:`~looqta.pagepool.pool.PagePool` instead, renders the request with
scrapy-playwright's own code (the network handler that applies
``PLAYWRIGHT_ABORT_REQUEST`` and the Scrapy headers, ``page.goto``, the
``PageMethod`` s, the rendered DOM as the body, downloads) and gives the page
back to be reset for the next request.

What goes to the pool: a request with ``meta["playwright"]``, unless
``LOOQTA_PAGE_POOL_ENABLED`` is off, ``meta["looqta_page_pool"]`` is ``False``,
the request wants the page itself (``playwright_include_page`` /
``playwright_page``) or names a persistent context (``user_data_dir``). Those
take scrapy-playwright's unchanged path, in the named shared context.

Failures: a page that crashed, was closed, or hung (a Playwright timeout, or
the whole render outlasting ``download_timeout``) is thrown away with its
context, and the request is rendered once more on a fresh page; a second
failure goes to Scrapy (``RETRY_EXCEPTIONS`` then applies as usual).

At most :attr:`page_limit` pages render at once (pooled or not), changeable at
run time with :meth:`set_page_limit`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import scrapy_playwright
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeoutError
from scrapy.exceptions import DownloadTimeoutError, NotSupported
from scrapy_playwright._utils import (
    _make_request_logger,
    _make_response_logger,
    _maybe_execute_page_init_callback,
)
from scrapy_playwright.handler import (
    DEFAULT_CONTEXT_NAME,
    PERSISTENT_CONTEXT_PATH_KEY,
    ScrapyPlaywrightDownloadHandler,
)
from scrapy_playwright.handler import logger as scrapy_playwright_logger
from scrapy_playwright.page import PageMethod

from looqta.browser import ABORTED_RESOURCE_TYPES, should_abort_request
from looqta.pagepool.config import PagePoolConfig
from looqta.pagepool.limiter import PageLimiter
from looqta.pagepool.pool import STATS_PREFIX, PagePool
from looqta.pagepool.signals import page_pool_opened
from looqta.render.wait import wait_until_ready
from looqta.throttle.controls import register
from looqta.throttle.pages import PooledPages

if TYPE_CHECKING:
    from collections.abc import Callable

    from playwright.async_api import BrowserContext, Page
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response

    from looqta.pagepool.pool import PooledPage

logger = logging.getLogger(__name__)

#: The private scrapy-playwright API used here (``_download_request_with_page``,
#: ``_make_request_handler``, ``_maybe_launch_browser``...) was read at this version.
SCRAPY_PLAYWRIGHT_VERSION = "0.0.48"

#: A request whose page failed (crashed, closed, hung) is rendered this many more times.
PAGE_FAILURE_RETRIES = 1

#: ``meta`` key: ``False`` sends a rendered request down scrapy-playwright's own path.
POOL_META_KEY = "looqta_page_pool"

#: Playwright's own ``--blink-settings`` for headless Chromium: a second ``--blink-settings``
#: flag replaces the first, so ours repeats them.
PLAYWRIGHT_HEADLESS_BLINK_SETTINGS = (
    "primaryHoverType=2,availableHoverTypes=2,primaryPointerType=4,availablePointerTypes=4"
)

#: Page methods that change the page or its routing rather than its document: a
#: reset does not undo them, so a page used with one is closed afterwards.
PAGE_CONFIGURING_METHODS: frozenset[str] = frozenset(
    {
        "add_init_script",
        "add_locator_handler",
        "emulate_media",
        "expose_binding",
        "expose_function",
        "on",
        "once",
        "remove_listener",
        "remove_locator_handler",
        "route",
        "route_from_har",
        "route_web_socket",
        "set_default_navigation_timeout",
        "set_default_timeout",
        "set_extra_http_headers",
        "set_viewport_size",
        "unroute",
        "unroute_all",
    }
)


#: Callable page methods known to only read the document (looqta's own waits).
DOCUMENT_ONLY_CALLABLES: frozenset[object] = frozenset({wait_until_ready})


def changes_page_settings(page_methods: Any) -> bool:
    """Whether these ``playwright_page_methods`` may leave the page set up differently.

    A callable ``PageMethod`` gets the page (and through it the context) and
    may do anything, so it counts as changing them, unless it is one of
    :data:`DOCUMENT_ONLY_CALLABLES`.
    """
    methods = page_methods.values() if isinstance(page_methods, dict) else page_methods or ()
    return any(
        isinstance(method, PageMethod)
        and (
            (callable(method.method) and method.method not in DOCUMENT_ONLY_CALLABLES)
            or method.method in PAGE_CONFIGURING_METHODS
        )
        for method in methods
    )


def page_failure(pooled: PooledPage, error: BaseException) -> str | None:
    """Why the page cannot serve again (``crashed``, ``closed``, ``timeout``), or ``None``."""
    message = str(error).lower()
    if pooled.crashed or "page crashed" in message or "target crashed" in message:
        return "crashed"
    if not pooled.usable:
        return "closed"
    if isinstance(error, (TimeoutError, PlaywrightTimeoutError)):
        return "timeout"
    return None


def without_image_loading(launch_options: dict[str, Any]) -> dict[str, Any]:
    """Launch options with Blink's image loading off (unless ``--blink-settings`` is set already).

    Aborting images one by one in the page's route costs a round trip through
    the Playwright driver and Python for each (24 per sandbox listing, about a
    fifth of the CPU of a render); with image loading off they are never requested.
    """
    args = list(launch_options.get("args") or [])
    if any(arg.startswith("--blink-settings") for arg in args):
        return launch_options
    blink = "imagesEnabled=false"
    if launch_options.get("headless", True):
        blink += "," + PLAYWRIGHT_HEADLESS_BLINK_SETTINGS
    return {**launch_options, "args": [*args, f"--blink-settings={blink}"]}


class PooledPlaywrightDownloadHandler(ScrapyPlaywrightDownloadHandler):
    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.pool_config = PagePoolConfig.from_settings(crawler.settings)
        if self.config.use_threaded_loop:
            raise NotSupported("the page pool needs the reactor's event loop, not a threaded loop")
        if scrapy_playwright.__version__ != SCRAPY_PLAYWRIGHT_VERSION:
            logger.warning(
                "looqta's page pool was written against scrapy-playwright %s, this is %s: "
                "run tests/test_pagepool*.py before trusting it",
                SCRAPY_PLAYWRIGHT_VERSION,
                scrapy_playwright.__version__,
            )
        if self.pool_config.enabled and self.abort_request is should_abort_request:
            # looqta's rule aborts every image anyway: have the browser not request them.
            assert "image" in ABORTED_RESOURCE_TYPES
            self.config.launch_options = without_image_loading(self.config.launch_options)
        self._page_limiter = PageLimiter(self.pool_config.max_pages)
        self._page_pool = PagePool(
            self.pool_config,
            self._page_limiter,
            crawler.stats,
            contexts=self,
            on_page_opened=self._pool_page_opened,
        )
        #: Cookies and storage of a retired shared context, for its successor.
        self._carried_state: dict[str, Any] = {}
        self._launched = False
        self._lazy_launch_lock = asyncio.Lock()
        self._default_download_timeout = crawler.settings.getfloat("DOWNLOAD_TIMEOUT")
        # Context options per scrapy-playwright context name: PLAYWRIGHT_CONTEXTS, else the
        # playwright_context_kwargs of the first request naming it (as scrapy-playwright does).
        self._pool_context_kwargs: dict[str, dict[str, Any]] = {
            name: dict(kwargs or {}) for name, kwargs in self.config.startup_context_kwargs.items()
        }
        self.stats.set_value(f"{STATS_PREFIX}/page_limit", self._page_limiter.limit)
        self.stats.set_value(f"{STATS_PREFIX}/in_use", 0)
        crawler.signals.send_catch_log(page_pool_opened, handler=self)
        register(crawler, PooledPages(self))

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
        self.stats.set_value(f"{STATS_PREFIX}/page_limit", n)
        if n != old:
            logger.info("Page limit %d -> %d (%d rendering now)", old, n, self._page_limiter.in_use)
        if n < old and self._page_pool.idle:
            self._page_pool.trim_soon()

    def recycle_contexts(self) -> None:
        """Replace every pooled browser context: idle ones now, busy ones when their request ends."""
        self._page_pool.recycle_contexts_soon()

    # --- Scrapy's download handler API -----------------------------------------------------------

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
        """scrapy-playwright starts its Playwright driver when the engine starts, in every
        handler: Scrapy builds one per scheme, so http and https each start one (~100 MB),
        used or not. Start it with the first rendered request instead, unless startup
        contexts (``PLAYWRIGHT_CONTEXTS``) are wanted at once."""
        if self.config.startup_context_kwargs:
            await self._launch_once()

    async def _launch_once(self) -> None:
        if self._launched:
            return
        async with self._lazy_launch_lock:
            if not self._launched:
                await self._launch()
                self._launched = True

    async def _close(self) -> None:
        await self._page_pool.close()
        await super()._close()

    # --- the pooled path -------------------------------------------------------------------------

    def _is_pooled(self, request: Request) -> bool:
        meta = request.meta
        if not self.pool_config.enabled or meta.get(POOL_META_KEY) is False:
            return False
        if meta.get("playwright_include_page") or meta.get("playwright_page") is not None:
            return False  # the spider owns that page, it cannot come back to the pool
        name = meta.get("playwright_context", DEFAULT_CONTEXT_NAME)
        kwargs = self._pool_context_kwargs.setdefault(name, dict(meta.get("playwright_context_kwargs") or {}))
        return not kwargs.get(PERSISTENT_CONTEXT_PATH_KEY)

    async def _download_pooled(self, request: Request) -> Response:
        spider = self._crawler.spider
        name = request.meta.setdefault("playwright_context", DEFAULT_CONTEXT_NAME)
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
                    self.stats.inc_value(f"{STATS_PREFIX}/retries")
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
        pooled.route_handler = self._make_request_handler(
            context_name=meta["playwright_context"],
            method=request.method,
            url=request.url,
            headers=request.headers,
            body=request.body,
            encoding=request.encoding,
            spider=spider,
            initial_request_done=asyncio.Event(),
        )
        if meta.get("playwright_page_init_callback") or changes_page_settings(
            meta.get("playwright_page_methods")
        ):
            pooled.tainted = True
        listeners = self._request_listeners(request, spider)
        for event, listener in listeners:
            page.on(event, listener)
        try:
            await _maybe_execute_page_init_callback(
                page=page, request=request, context_name=meta["playwright_context"], spider=spider
            )
            # scrapy-playwright closes the page after rendering unless the spider asked for it.
            meta["playwright_include_page"] = True
            return await self._download_request_with_page(request, page, spider)
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

    # --- the pool's contexts (looqta.pagepool.pool.ContextSource) ------------------------------

    async def shared_context(self, name: str) -> BrowserContext:
        """scrapy-playwright's context of that name: pooled and plain pages share its session."""
        async with self.context_launch_lock:
            wrapper = self.context_wrappers.get(name)
            if wrapper is None:
                kwargs = dict(self._pool_context_kwargs.get(name, {}))
                carried = self._carried_state.pop(name, None)
                if carried is not None:
                    kwargs["storage_state"] = carried
                wrapper = await self._create_browser_context(
                    name=name, context_kwargs=kwargs, spider=self._crawler.spider
                )
        return wrapper.context

    async def isolated_context(self, name: str) -> BrowserContext:
        await self._maybe_launch_browser()
        context = await self.browser.new_context(**self._pool_context_kwargs.get(name, {}))
        if self.config.navigation_timeout_ms is not None:
            context.set_default_navigation_timeout(self.config.navigation_timeout_ms)
        return context

    async def retire_shared_context(self, name: str, context: BrowserContext) -> None:
        wrapper = self.context_wrappers.get(name)
        if wrapper is None or wrapper.context is not context:
            return  # already replaced (browser restart)
        state = await context.storage_state()
        if self.context_wrappers.get(name) is wrapper:
            self._carried_state[name] = state
            del self.context_wrappers[name]  # the next request of this name gets a new context
            logger.debug("Browser context %r retired after its pages quota", name)

    def _make_close_browser_context_callback(
        self, name: str, persistent: bool, remote: bool, spider: Spider | None = None
    ) -> Callable[[BrowserContext], None]:
        """scrapy-playwright forgets the context *named* ``name`` when one closes; a retired
        context closing must not make it forget the successor registered under that name."""
        forget = super()._make_close_browser_context_callback(name, persistent, remote, spider)

        def closed(context: BrowserContext) -> None:
            current = self.context_wrappers.get(name)
            if current is None or current.context is context:
                forget()
            elif hasattr(self, "context_semaphore"):
                self.context_semaphore.release()  # what forget() does besides forgetting

        return closed

    def _pool_page_opened(self, page: Page, name: str) -> None:
        page.on("request", self._increment_request_stats)
        page.on("response", self._increment_response_stats)
        if scrapy_playwright_logger.getEffectiveLevel() <= logging.DEBUG:
            page.on("request", _make_request_logger(name, self._crawler.spider))
            page.on("response", _make_response_logger(name, self._crawler.spider))

    def _count_in_use(self) -> None:
        in_use = self._page_limiter.in_use
        self.stats.set_value(f"{STATS_PREFIX}/in_use", in_use)
        self.stats.max_value(f"{STATS_PREFIX}/in_use_max", in_use)
