"""Browser pages kept open between requests: leased per context name, reset, closed at their limits.

A request leases a :class:`~looqta.pagepool.page.PooledPage` of its scrapy-playwright context name
and gives it back to be reset (:mod:`looqta.pagepool.reset`). The pool keeps at most the
:class:`PageLimiter`'s limit of pages, closes a page after ``page_max_uses`` requests and retires a
shared context after ``context_max_pages`` pages. Playwright only, no Scrapy: the download handler
provides the contexts (:class:`ContextSource`). Shared and isolated contexts: ``docs/pagepool.md``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Protocol

from playwright.async_api import Error as PlaywrightError

from looqta.pagepool.page import PoolContext, PooledPage
from looqta.pagepool.reset import PageReset

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from playwright.async_api import BrowserContext, Page
    from scrapy.statscollectors import StatsCollector

    from looqta.pagepool.config import PagePoolConfig
    from looqta.pagepool.limiter import PageLimiter

logger = logging.getLogger(__name__)

STATS_PREFIX = "looqta/pagepool"


class ContextSource(Protocol):
    """Where the pool's browser contexts come from (the download handler)."""

    async def shared_context(self, name: str) -> BrowserContext:
        """The context now used for ``name`` (created on first use)."""

    async def isolated_context(self, name: str) -> BrowserContext:
        """A new context with ``name``'s options, for one pooled page."""

    async def retire_shared_context(self, name: str, context: BrowserContext) -> None:
        """Stop handing out ``context`` for ``name``; its successor starts with its cookies/storage."""


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
        self._reset = PageReset(config, self._inc)

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
        elif not await self._reset.in_time(pooled):
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
