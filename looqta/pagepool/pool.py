"""Browser pages kept open between requests, and reset before the next one.

A request leases a page (:class:`PooledPage`) for its scrapy-playwright context
name, renders in it, and gives it back; the page is then reset (see
:meth:`PagePool._reset`) and waits for the next request of the same name.

Two kinds of context hold the pages:

* shared (the default): every pooled page of a name lives in that name's one
  context, the context scrapy-playwright itself uses for the name. Cookies,
  storage and cache belong to the context and are kept between requests, as
  they are between scrapy-playwright's new pages: the context is the session.
* isolated (names in ``LOOQTA_PAGE_POOL_ISOLATED_CONTEXTS``): each page has a
  private context, whose cookies, storage and cache the reset wipes, so every
  request starts as a first visit. It costs about as much CPU as a new page.

Limits: the pool never keeps more pages than the :class:`PageLimiter` allows
(idle pages are closed when the limit shrinks, or to make room for another
name); a page is closed after ``page_max_uses`` requests; a shared context is
retired after ``context_max_pages`` pages (its cookies and storage carried to
its successor) and closed once its last page is.

This module knows Playwright, not Scrapy: the download handler provides the
contexts (:class:`ContextSource`) and what to attach to a new page.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, CDPSession, Page
from playwright.async_api import Error as PlaywrightError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from playwright.async_api import Frame, Route
    from playwright.async_api import Request as PlaywrightRequest
    from scrapy.statscollectors import StatsCollector

    from looqta.pagepool.config import PagePoolConfig
    from looqta.pagepool.limiter import PageLimiter

    RouteHandler = Callable[[Route, PlaywrightRequest], Awaitable[None]]

logger = logging.getLogger(__name__)

STATS_PREFIX = "looqta/pagepool"

#: Where a page goes between requests: an empty document of the origin it was on,
#: served by the page's own route (never by the site), so that what the old
#: document's unload handlers wrote to the tab's sessionStorage can be cleared.
RESET_PATH = "/__looqta_pagepool_blank__"
RESET_DOCUMENT = "<!doctype html><title></title>"

#: sessionStorage and window.name belong to the tab, not to the document or the context.
FORGET_TAB_STATE_JS = """() => {
  try { window.sessionStorage.clear(); } catch (e) { /* opaque or sandboxed origin: no storage */ }
  if (window === window.top) { window.name = ""; }
}"""

#: Armed on a page between requests (light reset), run at the start of every document until
#: the next request's first document commits: what the old document wrote to the tab after
#: the reset (its timers while the page was idle, its unload handlers while the next request
#: navigated it away) is gone before the new document's own scripts run, as in a new tab.
NEW_TAB_STATE_JS = f"({FORGET_TAB_STATE_JS})();"

#: Storage.clearDataForOrigin: every kind of origin storage Chromium keeps
#: (local storage, IndexedDB, Cache Storage, service workers, file systems, cookies...).
ALL_STORAGE_TYPES = "all"


def web_origin(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL; ``None`` for about:, data:, chrome-error:..."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2].lower()}"


class InitScript(Protocol):
    """What ``Page.add_init_script`` returns (Playwright >= 1.5x): closing it removes the script."""

    async def close(self) -> None: ...


class ContextSource(Protocol):
    """Where the pool's browser contexts come from (the download handler)."""

    async def shared_context(self, name: str) -> BrowserContext:
        """The context now used for ``name`` (created on first use)."""

    async def isolated_context(self, name: str) -> BrowserContext:
        """A new context with ``name``'s options, for one pooled page."""

    async def retire_shared_context(self, name: str, context: BrowserContext) -> None:
        """Stop handing out ``context`` for ``name``; its successor starts with its cookies/storage."""


@dataclass(eq=False)
class PoolContext:
    """A browser context the pool opens pages in."""

    name: str
    context: BrowserContext
    isolated: bool
    pages_opened: int = 0
    pages_open: int = 0
    retired: bool = False
    closed: bool = False
    #: Every page the pool opened here (a closed one may still be listed in ``context.pages``).
    pooled_pages: set[Page] = field(default_factory=set)

    def outside_pages(self) -> list[Page]:
        """Open pages of the context that are not the pool's (a spider's playwright_include_page)."""
        return [page for page in self.context.pages if page not in self.pooled_pages and not page.is_closed()]

    def on_close(self) -> None:
        self.closed = True


@dataclass(eq=False)
class PooledPage:
    """One pooled page, and what the pool knows about it."""

    entry: PoolContext
    page: Page
    cdp: CDPSession | None = None
    uses: int = 0
    #: Origins whose documents ran in the page since its last reset (isolated contexts).
    origins: set[str] = field(default_factory=set)
    popups: list[Page] = field(default_factory=list)
    crashed: bool = False
    #: The request changed page or context settings a reset does not undo.
    tainted: bool = False
    idle_since: float = 0.0
    #: The network handler of the request rendering now; ``None`` while idle.
    route_handler: RouteHandler | None = None
    reset_url: str | None = None
    #: The armed :data:`NEW_TAB_STATE_JS` (light reset), until the next request's document commits.
    armed_script: InitScript | None = None
    #: The page's disarming of that script, running (a task).
    disarming: asyncio.Future[None] | None = None

    @property
    def context_name(self) -> str:
        return self.entry.name

    @property
    def usable(self) -> bool:
        return not (self.crashed or self.entry.closed or self.page.is_closed())

    async def route(self, route: Route, request: PlaywrightRequest) -> None:
        """The page's only route: its blank reset document, the current request's handler, or nothing."""
        if request.url == self.reset_url:
            await route.fulfill(body=RESET_DOCUMENT, content_type="text/html")
        elif self.route_handler is not None:
            await self.route_handler(route, request)
        else:
            try:
                await route.abort()  # an idle page has no business on the network
            except PlaywrightError as exc:  # the page is closing; its requests die with it
                logger.debug("Could not abort %s from an idle page: %s", request.url, exc)

    def on_crash(self) -> None:
        self.crashed = True

    def on_popup(self, popup: Page) -> None:
        self.popups.append(popup)

    def on_navigated(self, frame: Frame) -> None:
        if self.entry.isolated:
            origin = web_origin(frame.url)
            if origin is not None:
                self.origins.add(origin)
        elif frame.parent_frame is None and self.route_handler is not None and self.armed_script:
            # the request's first document committed: its tab state is clean, its own is its own
            script, self.armed_script = self.armed_script, None
            self.disarming = asyncio.ensure_future(self._disarm(script))

    async def _disarm(self, script: InitScript) -> None:
        try:
            await script.close()
        except PlaywrightError as exc:  # the page closed meanwhile: the script went with it
            logger.debug("Could not disarm a pooled page's reset script: %r", exc)


class PagePool:
    def __init__(
        self,
        config: PagePoolConfig,
        limiter: PageLimiter,
        stats: StatsCollector,
        contexts: ContextSource,
        on_page_opened: Callable[[Page, str], None] | None = None,
    ) -> None:
        self.config = config
        self.limiter = limiter
        self.stats = stats
        self._contexts = contexts
        self._on_page_opened = on_page_opened
        self._isolated: frozenset[str] = frozenset(config.isolated_contexts)
        self._pages: set[PooledPage] = set()
        self._idle: list[PooledPage] = []
        self._shared: dict[str, PoolContext] = {}
        self._retired: set[PoolContext] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # --- what the handler calls ------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Pooled pages open now, idle or leased."""
        return len(self._pages)

    @property
    def idle(self) -> int:
        return len(self._idle)

    async def acquire(self, context_name: str) -> PooledPage:
        """An open page for ``context_name``; the caller holds a limiter permit."""
        if self._closed:
            raise RuntimeError("the page pool is closed")
        pooled = self._take_idle(context_name)
        if pooled is not None:
            self._inc("pages_reused")
            return pooled
        await self._make_room()
        return await self._open_page(context_name)

    async def release(self, pooled: PooledPage) -> None:
        """Take a page back after a request: reset it for the next one, or close it."""
        pooled.uses += 1
        pooled.route_handler = None
        if pooled.tainted:
            await self.discard(pooled, "tainted")
        elif not pooled.usable:
            await self.discard(pooled, "crashed" if pooled.crashed else "closed")
        elif pooled.entry.retired:
            await self._close(pooled)
        elif pooled.uses >= self.config.page_max_uses:
            self._inc("pages_recycled")
            await self._close(pooled)
        elif not await self._reset_in_time(pooled):
            await self.discard(pooled, "reset_failed")
        elif len(self._pages) > self.limiter.limit:
            self._inc("pages_evicted")
            await self._close(pooled)
        else:
            pooled.idle_since = time.monotonic()
            self._idle.append(pooled)

    async def discard(self, pooled: PooledPage, reason: str) -> None:
        """Close a page that must not serve again (crashed, hung, closed, tainted)."""
        self._inc(f"pages_discarded/{reason}")
        await self._close(pooled)

    def trim_soon(self) -> None:
        """Close idle pages over the limit (after it shrank), without waiting for it."""
        self._spawn(self._trim())

    def recycle_contexts_soon(self) -> None:
        """Retire every context now in use: idle pages close now, busy ones when their request ends."""
        self._spawn(self._recycle_contexts())

    async def close(self) -> None:
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        pages, self._pages, self._idle = list(self._pages), set(), []
        await asyncio.gather(*(self._close(pooled) for pooled in pages))
        retired, self._retired = list(self._retired), set()
        await asyncio.gather(*(self._close_context(entry) for entry in retired))

    # --- pages -----------------------------------------------------------------------------------

    def _take_idle(self, context_name: str) -> PooledPage | None:
        for index in range(len(self._idle) - 1, -1, -1):
            pooled = self._idle[index]
            if pooled.context_name != context_name:
                continue
            del self._idle[index]
            if pooled.usable:
                return pooled
            # died while idle (renderer crash, browser restart)
            self._inc("pages_discarded/crashed" if pooled.crashed else "pages_discarded/closed")
            self._spawn(self._close(pooled))
        return None

    async def _make_room(self) -> None:
        while len(self._pages) >= self.limiter.limit and self._idle:
            self._inc("pages_evicted")
            await self._close(self._least_recently_used())

    async def _open_page(self, name: str) -> PooledPage:
        entry = await self._entry_for(name)
        entry.pages_open += 1  # before awaiting: a retirement meanwhile must wait for this page
        try:
            page = await entry.context.new_page()
        except BaseException:
            entry.pages_open -= 1
            await self._maybe_close_context(entry)
            raise
        entry.pages_opened += 1
        entry.pooled_pages.add(page)
        pooled = PooledPage(entry, page)
        self._pages.add(pooled)
        page.on("crash", pooled.on_crash)
        page.on("popup", pooled.on_popup)
        try:
            await page.route("**", pooled.route)
            pooled.cdp = await entry.context.new_cdp_session(page)
            page.on("framenavigated", pooled.on_navigated)
        except BaseException:
            await self._close(pooled)
            raise
        if self._on_page_opened is not None:
            self._on_page_opened(page, name)
        self._inc("pages_opened")
        return pooled

    async def _entry_for(self, name: str) -> PoolContext:
        if name in self._isolated:
            entry = PoolContext(name, await self._contexts.isolated_context(name), isolated=True)
        else:
            current = self._shared.get(name)
            if current is not None and current.pages_opened >= self.config.context_max_pages:
                await self._retire(current)  # its pages close as they come back
            context = await self._contexts.shared_context(name)
            current = self._shared.get(name)
            if current is not None and current.context is context and not current.closed:
                return current
            entry = PoolContext(name, context, isolated=False)
            self._shared[name] = entry
        entry.context.on("close", entry.on_close)
        self._inc("contexts_opened")
        return entry

    async def _reset_in_time(self, pooled: PooledPage) -> bool:
        try:
            await asyncio.wait_for(self._reset(pooled), self.config.reset_timeout_seconds)
        except (PlaywrightError, TimeoutError) as exc:
            logger.warning("Could not reset a pooled page, closing it: %r", exc)
            return False
        return True

    async def _reset(self, pooled: PooledPage) -> None:
        """Leave nothing of the last request that a new page of the same context would not have.

        1. close the pop-ups the request opened;
        2. shared contexts (light reset, the default): clear sessionStorage and ``window.name``
           in every frame now (they belong to the tab and survive navigation), and arm
           :data:`NEW_TAB_STATE_JS` so that what the old document writes to the tab later (its
           timers while the page is idle, its unload handlers while the next request navigates
           it away) is cleared before the next document's scripts run. The old document stays
           until that navigation unloads it; an idle page's network requests are aborted
           (:meth:`PooledPage.route`). No navigation of its own: that halves the reset's cost;
        3. isolated contexts and ``LOOQTA_PAGE_POOL_BLANK_RESET``: navigate to an empty document
           of the page's origin now: the old document unloads at once, with its scripts, timers,
           workers and sockets; then clear the tab state after whatever the unload handlers
           wrote. Isolated contexts then delete every cookie, clear local storage, IndexedDB,
           Cache Storage, service workers and file systems of every origin the page showed, and
           (``LOOQTA_PAGE_POOL_CLEAR_HTTP_CACHE``) the HTTP cache;
        4. every ``LOOQTA_PAGE_POOL_GC_EVERY_USES`` uses, collect the renderer's garbage: a page
           kept open otherwise holds on to old documents' heap until V8 gets round to it.
        """
        page = pooled.page
        popups, pooled.popups = pooled.popups, []
        for popup in popups:
            await popup.close()
        if pooled.disarming is not None:
            disarming, pooled.disarming = pooled.disarming, None
            await disarming
        if pooled.entry.isolated or self.config.blank_reset:
            await self._navigate_blank(pooled)
            if pooled.entry.isolated:
                await self._clear_context(pooled)
        else:
            await self._in_frames(page.frames, FORGET_TAB_STATE_JS)
            if pooled.armed_script is None:
                pooled.armed_script = await page.add_init_script(NEW_TAB_STATE_JS)
        if pooled.uses % self.config.gc_every_uses == 0:
            assert pooled.cdp is not None
            await pooled.cdp.send("HeapProfiler.collectGarbage")
            self._inc("renderer_gcs")

    @staticmethod
    async def _in_frames(frames: list[Frame], script: str) -> None:
        for frame in frames:
            try:
                await frame.evaluate(script)
            except PlaywrightError as exc:  # the frame detached meanwhile: its document is gone
                logger.debug("Could not reset the document in frame %s: %s", frame.url, exc)

    async def _navigate_blank(self, pooled: PooledPage) -> None:
        page = pooled.page
        await self._in_frames(page.frames[1:], FORGET_TAB_STATE_JS)
        origin = web_origin(page.url)
        if origin is None:
            pooled.reset_url = None
            await page.goto("about:blank")
        else:
            pooled.reset_url = origin + RESET_PATH
            await page.goto(pooled.reset_url)
            await page.evaluate(FORGET_TAB_STATE_JS)

    async def _clear_context(self, pooled: PooledPage) -> None:
        assert pooled.cdp is not None
        await pooled.entry.context.clear_cookies()
        for origin in sorted(pooled.origins):
            await pooled.cdp.send(
                "Storage.clearDataForOrigin", {"origin": origin, "storageTypes": ALL_STORAGE_TYPES}
            )
        if self.config.clear_http_cache:
            await pooled.cdp.send("Network.clearBrowserCache")
        pooled.origins.clear()

    async def _close(self, pooled: PooledPage) -> None:
        """Close a pooled page (and its context when nothing else needs it)."""
        if pooled not in self._pages:
            return
        self._pages.discard(pooled)
        if pooled in self._idle:
            self._idle.remove(pooled)
        entry = pooled.entry
        entry.pages_open -= 1
        if entry.isolated:
            await self._close_context(entry)  # closes the page with it
        else:
            try:
                await asyncio.wait_for(pooled.page.close(), self.config.reset_timeout_seconds)
            except (PlaywrightError, TimeoutError) as exc:  # the browser died or hangs
                logger.debug("Could not close a pooled page: %r", exc)
            await self._maybe_close_context(entry)

    async def _retire(self, entry: PoolContext) -> None:
        if entry.retired:
            return
        entry.retired = True
        self._retired.add(entry)
        if self._shared.get(entry.name) is entry:
            del self._shared[entry.name]
        self._inc("contexts_recycled")
        if not entry.closed:
            try:
                await self._contexts.retire_shared_context(entry.name, entry.context)
            except PlaywrightError as exc:  # the context died meanwhile: nothing to carry over
                logger.debug("Could not retire context %r: %r", entry.name, exc)
        await self._maybe_close_context(entry)

    async def _maybe_close_context(self, entry: PoolContext) -> None:
        """A retired shared context closes once none of its pages is left."""
        if entry.isolated or not entry.retired or entry.pages_open > 0:
            return
        self._retired.discard(entry)
        if entry.outside_pages():  # a page the spider holds (playwright_include_page) still needs it
            logger.info("Retired browser context %r stays open for pages outside the pool", entry.name)
            return
        await self._close_context(entry)

    async def _close_context(self, entry: PoolContext) -> None:
        if entry.closed:
            return
        try:
            await asyncio.wait_for(entry.context.close(), self.config.reset_timeout_seconds)
        except (PlaywrightError, TimeoutError) as exc:  # the browser died or hangs: nothing to close
            logger.debug("Could not close a pooled browser context: %r", exc)
        entry.closed = True

    # --- housekeeping ----------------------------------------------------------------------------

    def _least_recently_used(self) -> PooledPage:
        return min(self._idle, key=lambda pooled: pooled.idle_since)

    async def _trim(self) -> None:
        while len(self._pages) > self.limiter.limit and self._idle:
            self._inc("pages_evicted")
            await self._close(self._least_recently_used())

    async def _recycle_contexts(self) -> None:
        entries: Iterable[PoolContext] = {pooled.entry for pooled in self._pages}
        for entry in entries:
            if entry.isolated:
                entry.retired = True
            else:
                await self._retire(entry)
        for pooled in [pooled for pooled in self._idle if pooled.entry.retired]:
            await self._close(pooled)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("Page pool housekeeping failed", exc_info=task.exception())

    def _inc(self, key: str) -> None:
        self.stats.inc_value(f"{STATS_PREFIX}/{key}")
