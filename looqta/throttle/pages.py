"""Rendered-pages controls: the page pool's page limit, or scrapy-playwright's page semaphores.

* :class:`PooledPages`: a page-pool handler (:mod:`looqta.pagepool`) owns its limit and its
  recycling and is simply told; it registers this control itself.
* :class:`PlaywrightPages`: plain scrapy-playwright handlers. Each context's page semaphore has
  permits taken (and given back) by :class:`PermitHolder`, so fewer pages open at once.
  Recycling drains a context (takes all its permits, waits for its open pages), closes it and
  gives the permits back: the next request makes a fresh context, and one queued on the old
  context gets scrapy-playwright's TargetClosedError retry in the new one. No request is lost.
  Registered by :class:`looqta.middlewares.render.RenderMiddleware`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
from typing import TYPE_CHECKING, Any

from playwright.async_api import Error as PlaywrightError
from scrapy.utils.defer import deferred_from_coro
from twisted.internet.defer import succeed

from looqta import internals

if TYPE_CHECKING:
    from collections.abc import Iterable

    from twisted.internet.defer import Deferred

    from looqta.pagepool.handler import PooledPlaywrightDownloadHandler
    from looqta.throttle.controls import Follows
    from looqta.throttle.sampler import Sample

logger = logging.getLogger(__name__)

#: How long recycling waits for a context's open pages to finish before closing it anyway
#: (a page still open then is retried by scrapy-playwright in the new context).
DRAIN_TIMEOUT_SECONDS = 30.0


class PermitHolder:
    """Holds permits of one asyncio semaphore, so that many fewer holders of it run at once."""

    def __init__(self, semaphore: asyncio.Semaphore) -> None:
        self.semaphore = semaphore
        self.held: list[asyncio.Future[bool]] = []  #: done: a permit taken; pending: queued for one

    def hold(self, count: int) -> None:
        while len(self.held) < count:
            self.held.append(asyncio.ensure_future(self.semaphore.acquire()))
        while len(self.held) > count:
            self._give_back(self.held.pop())  # the newest first: those still queued

    def _give_back(self, acquiring: asyncio.Future[bool]) -> None:
        if not acquiring.done():
            acquiring.cancel()  # asyncio's Semaphore passes a permit granted meanwhile on
        elif not acquiring.cancelled():
            self.semaphore.release()

    async def all_taken(self, timeout: float) -> bool:
        """Wait until every permit asked for is held; False on timeout."""
        if not self.held:
            return True
        _, pending = await asyncio.wait(self.held, timeout=timeout)
        return not pending


class PooledPages:
    """One page-pool handler: it is told its page limit and asked to recycle its contexts.

    Each handler (one per URL scheme) gets the whole limit: a crawl renders one scheme.
    """

    follows: Follows = "browser_pages"

    def __init__(self, handler: PooledPlaywrightDownloadHandler) -> None:
        self.handler = handler
        self.description = f"the page limit of {type(handler).__name__}"

    @property
    def level(self) -> int | None:
        return self.handler.page_limit

    def apply(self, level: int, sample: Sample | None = None) -> None:
        if self.handler.page_limit != level:
            self.handler.set_page_limit(level)

    def recycle(self) -> Deferred[Any] | None:
        result = self.handler.recycle_contexts()
        return deferred_from_coro(result) if inspect.isawaitable(result) else succeed(result)

    def close(self) -> None:
        """The handler owns its limit and closes with the crawl."""


class PlaywrightPages:
    """Plain scrapy-playwright handlers: per-context page semaphores and context recycling."""

    follows: Follows = "browser_pages"
    description = "scrapy-playwright's per-context page semaphores"

    def __init__(self, handlers: list[Any]) -> None:
        self.handlers = handlers
        self.pages: int | None = None
        #: id(context wrapper) -> (wrapper, holder); a wrapper is a dataclass, so not hashable
        self.holders: dict[int, tuple[Any, PermitHolder]] = {}
        self.draining: set[int] = set()

    @property
    def level(self) -> int | None:
        return self.pages

    def _wrappers(self) -> list[tuple[Any, str, Any]]:
        return [
            (handler, name, wrapper)
            for handler in self.handlers
            for name, wrapper in list(internals.context_wrappers(handler).items())
        ]

    def _holder(self, wrapper: Any) -> PermitHolder:
        entry = self.holders.get(id(wrapper))
        if entry is None or entry[0] is not wrapper:
            entry = (wrapper, PermitHolder(internals.page_semaphore(wrapper)))
            self.holders[id(wrapper)] = entry
        return entry[1]

    def apply(self, level: int, sample: Sample | None = None) -> None:
        """Spread ``level`` pages over the open contexts (at least 1 each); called every check."""
        self.pages = level
        live = self._wrappers()
        live_ids = {id(w) for _, _, w in live}
        for key, (_, holder) in list(self.holders.items()):
            if key not in live_ids and key not in self.draining:
                holder.hold(0)  # closed context: nothing to hold any more
                del self.holders[key]
        if not live:
            return
        per_context = max(1, math.ceil(level / len(live)))
        for handler, _, wrapper in live:
            if id(wrapper) in self.draining:
                continue
            most = internals.max_pages_per_context(handler)
            self._holder(wrapper).hold(most - min(per_context, most))

    def recycle(self) -> Deferred[Any] | None:
        contexts = [(h, n, w) for h, n, w in self._wrappers() if not internals.is_persistent(w)]
        if not contexts:
            return None
        return deferred_from_coro(self._recycle(contexts))

    def close(self) -> None:
        for _, holder in self.holders.values():
            holder.hold(0)
        self.holders.clear()

    async def _recycle(self, contexts: Iterable[tuple[Any, str, Any]]) -> int:
        closed = 0
        for handler, name, wrapper in contexts:
            closed += await self._recycle_context(handler, name, wrapper)
        return closed

    async def _recycle_context(self, handler: Any, name: str, wrapper: Any) -> int:
        key = id(wrapper)
        self.draining.add(key)
        holder = self._holder(wrapper)
        try:
            holder.hold(internals.max_pages_per_context(handler))
            if not await holder.all_taken(DRAIN_TIMEOUT_SECONDS):
                logger.warning(
                    "Browser context %r still had pages open after %.0f s; closing it anyway "
                    "(scrapy-playwright retries them in a new context)",
                    name,
                    DRAIN_TIMEOUT_SECONDS,
                )
            async with internals.context_launch_lock(handler):
                if internals.context_wrappers(handler).get(name) is not wrapper:
                    return 0  # closed meanwhile (the browser restarted): nothing to recycle
                try:
                    await internals.browser_context(wrapper).close()
                except PlaywrightError as exc:
                    logger.info("Browser context %r was already closing: %s", name, exc)
                    return 0
            return 1
        finally:
            holder.hold(0)  # queued requests of the old context now retry in a new one
            self.draining.discard(key)
            self.holders.pop(key, None)
