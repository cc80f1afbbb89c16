"""Act: apply :class:`~looqta.throttle.decide.Limits` to the crawl, and recycle browser contexts.

What is driven, each behind a small Protocol so tests hand in fakes:

* Scrapy's downloader (:class:`DownloaderControl`): ``total_concurrency`` (the engine starts no
  new request while that many are in the downloader) and each slot's ``concurrency``, capped by
  the slot's own configured value (a site's politeness ceiling is never raised).
* The browser (:func:`find_browser`):

  - a pooled page handler (``looqta.pagepool``) exposing ``set_page_limit(n)`` / ``page_limit``
    and ``recycle_contexts()`` is simply told (:class:`PooledBrowser`);
  - plain scrapy-playwright (:class:`PlaywrightBrowser`): each context's page semaphore has
    permits taken (and given back) by :class:`PermitHolder`, so fewer pages open at once;
    recycling drains a context (takes all its permits, so no new page starts in it, and waits
    for its open pages to finish), closes it, and gives the permits back: the next request makes
    a fresh context, and a request that was queued on the old one gets scrapy-playwright's
    TargetClosedError retry, which opens it in the new one. No request is lost;
  - neither (:class:`SlotsOnlyBrowser`): browser concurrency is limited through the download
    slots only, and the log says so once.

* The file pool (:class:`FilePoolControl`): the files pipeline's own pure policy
  (:func:`looqta.files.policy.decide_workers`, fed by ``pipeline.pool_sample``) picks the size by
  demand, capped by the throttle's level; ``pipeline.resize(n)`` applies it when it changes. The
  file gate (:mod:`looqta.throttle.gate`) sets how many of those workers may start tasks,
  ``pipeline.limit_tasks(n)``. Without a files pipeline, skipped.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

from playwright.async_api import Error as PlaywrightError
from scrapy.utils.defer import deferred_from_coro
from twisted.internet.defer import DeferredList, succeed

from looqta.files.policy import PoolLimits, PoolSample, decide_workers

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    from scrapy.crawler import Crawler
    from twisted.internet.defer import Deferred

    from looqta.throttle.decide import Limits
    from looqta.throttle.sampler import Sample

logger = logging.getLogger(__name__)

#: How long recycling waits for a context's open pages to finish before closing it anyway
#: (a page still open then is retried by scrapy-playwright in the new context).
DRAIN_TIMEOUT_SECONDS = 30.0
#: How long the file pool's samples are kept (its policy shrinks after 30 s idle).
FILE_POOL_HISTORY_SECONDS = 60.0


class SlotLike(Protocol):
    concurrency: int


class DownloaderLike(Protocol):
    total_concurrency: int
    slots: Mapping[str, SlotLike]


class BrowserControl(Protocol):
    #: One line for the log: what browser concurrency is applied to.
    description: str

    def set_page_limit(self, pages: int) -> None: ...

    def recycle(self) -> Deferred[Any] | None:
        """Start recycling; None when there is nothing to recycle."""

    def close(self) -> None:
        """Give back whatever the control holds (the crawl is ending)."""


class DownloaderControl:
    """Total and per-slot concurrency of Scrapy's downloader."""

    def __init__(self, downloader: DownloaderLike) -> None:
        self.downloader = downloader
        #: Each slot's own concurrency when first seen (DOWNLOAD_SLOTS or the per-domain default).
        #: The downloader re-creates idle slots with it, so it is kept by key.
        self.ceilings: dict[str, int] = {}

    def apply(self, concurrency: int) -> None:
        self.downloader.total_concurrency = concurrency
        for key, slot in list(self.downloader.slots.items()):
            ceiling = self.ceilings.setdefault(key, slot.concurrency)
            slot.concurrency = max(1, min(ceiling, concurrency))


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


class PooledBrowser:
    """Page-pool handlers (one per URL scheme) that manage their own page limit and recycling.

    Each gets the whole limit: a crawl renders one scheme (the sandbox http, the sites https).
    """

    def __init__(self, handlers: list[Any]) -> None:
        self.handlers = handlers
        self.description = f"the page limit of {type(handlers[0]).__name__}"

    def set_page_limit(self, pages: int) -> None:
        for handler in self.handlers:
            if getattr(handler, "page_limit", None) != pages:
                handler.set_page_limit(pages)

    def recycle(self) -> Deferred[Any] | None:
        recycling = [_deferred(h.recycle_contexts()) for h in self.handlers if hasattr(h, "recycle_contexts")]
        return DeferredList(recycling, fireOnOneErrback=True, consumeErrors=True) if recycling else None

    def close(self) -> None:
        """The handler owns its limit and closes with the crawl."""


class PlaywrightBrowser:
    """Plain scrapy-playwright handlers: per-context page semaphores and context recycling."""

    def __init__(self, handlers: list[Any]) -> None:
        self.handlers = handlers
        self.description = "scrapy-playwright's per-context page semaphores"
        self.pages: int | None = None
        #: id(context wrapper) -> (wrapper, holder); a wrapper is a dataclass, so not hashable
        self.holders: dict[int, tuple[Any, PermitHolder]] = {}
        self.draining: set[int] = set()

    def _wrappers(self) -> list[tuple[Any, str, Any]]:
        return [(h, name, w) for h in self.handlers for name, w in list(h.context_wrappers.items())]

    def _holder(self, wrapper: Any) -> PermitHolder:
        entry = self.holders.get(id(wrapper))
        if entry is None or entry[0] is not wrapper:
            entry = (wrapper, PermitHolder(wrapper.semaphore))
            self.holders[id(wrapper)] = entry
        return entry[1]

    def set_page_limit(self, pages: int) -> None:
        """Spread ``pages`` over the open contexts (at least 1 each); called every tick."""
        self.pages = pages
        live = self._wrappers()
        live_ids = {id(w) for _, _, w in live}
        for key, (_, holder) in list(self.holders.items()):
            if key not in live_ids and key not in self.draining:
                holder.hold(0)  # closed context: nothing to hold any more
                del self.holders[key]
        if not live:
            return
        per_context = max(1, math.ceil(pages / len(live)))
        for handler, _, wrapper in live:
            if id(wrapper) in self.draining:
                continue
            allowed = min(per_context, handler.config.max_pages_per_context)
            self._holder(wrapper).hold(handler.config.max_pages_per_context - allowed)

    def recycle(self) -> Deferred[Any] | None:
        contexts = [(h, name, w) for h, name, w in self._wrappers() if not w.persistent]
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
            holder.hold(handler.config.max_pages_per_context)
            if not await holder.all_taken(DRAIN_TIMEOUT_SECONDS):
                logger.warning(
                    "Browser context %r still had pages open after %.0f s; closing it anyway "
                    "(scrapy-playwright retries them in a new context)",
                    name,
                    DRAIN_TIMEOUT_SECONDS,
                )
            async with handler.context_launch_lock:
                if handler.context_wrappers.get(name) is not wrapper:
                    return 0  # closed meanwhile (the browser restarted): nothing to recycle
                try:
                    await wrapper.context.close()
                except PlaywrightError as exc:
                    logger.info("Browser context %r was already closing: %s", name, exc)
                    return 0
            return 1
        finally:
            holder.hold(0)  # queued requests of the old context now retry in a new one
            self.draining.discard(key)
            self.holders.pop(key, None)


class SlotsOnlyBrowser:
    description = "download slots only (no browser handler with page limits found)"

    def set_page_limit(self, pages: int) -> None:
        """Rendered pages are requests of their site's download slot: that is their limit."""

    def recycle(self) -> Deferred[Any] | None:
        return None

    def close(self) -> None:
        """Nothing held."""


def download_handlers(crawler: Crawler) -> list[Any]:
    # Scrapy keeps the instantiated handlers in a private dict and offers no public accessor;
    # scrapy-playwright's own memusage extension reads it the same way.
    handlers: Mapping[str, Any] = crawler.engine.downloader.handlers._handlers  # noqa: SLF001
    unique: dict[int, Any] = {id(handler): handler for handler in handlers.values()}
    return list(unique.values())


def find_browser(handlers: Iterable[Any]) -> BrowserControl | None:
    """The control for the browser handlers among ``handlers``; None when there is none."""
    handlers = list(handlers)
    pooled = [h for h in handlers if callable(getattr(h, "set_page_limit", None))]
    if pooled:
        return PooledBrowser(pooled)
    playwright = [h for h in handlers if hasattr(h, "context_wrappers") and hasattr(h, "context_launch_lock")]
    return PlaywrightBrowser(playwright) if playwright else None


class FilesPipelineLike(Protocol):
    def resize(self, workers: int) -> Any:
        """Run ``workers`` file workers; may return an awaitable."""

    def pool_sample(self, at: float, cpu_percent: float) -> PoolSample | None: ...

    # Optional (looked up with getattr): the file gate's side.
    def limit_tasks(self, tasks: int | None) -> None:
        """Let at most ``tasks`` file tasks run at once (None: one per worker)."""

    def running_tasks(self) -> int:
        """File tasks running now."""


def find_files_pipeline(pipelines: Iterable[Any]) -> FilesPipelineLike | None:
    """The item pipeline with a file pool (a callable ``resize``); None when there is none."""
    for pipeline in pipelines:
        if callable(getattr(pipeline, "resize", None)):
            return pipeline  # type: ignore[no-any-return]
    return None


class FilePoolControl:
    """Sizes the file pool: its own policy decides by demand, the throttle's level caps it."""

    def __init__(self, find: Callable[[], FilesPipelineLike | None], maximum: int) -> None:
        self.find = find
        self.maximum = maximum
        self.wanted = maximum  #: the policy's answer, before the cap
        self.size: int | None = None  #: the size last asked for; None while there is no pipeline
        self.tasks: int | None = None  #: the file tasks at once last allowed
        self.samples: deque[PoolSample] = deque()

    def apply(self, cap: int, sample: Sample | None) -> None:
        pipeline = self.find()
        if pipeline is None:
            return
        reading = None
        if sample is not None and callable(getattr(pipeline, "pool_sample", None)):
            reading = pipeline.pool_sample(sample.at, sample.cpu_percent)
        if reading is not None:
            self.samples.append(reading)
            while self.samples[0].at < reading.at - FILE_POOL_HISTORY_SECONDS:
                self.samples.popleft()
            limits = PoolLimits(minimum=1, maximum=self.maximum)
            self.wanted = decide_workers(self.wanted, list(self.samples), limits)
        size = min(self.wanted, cap)
        if size != self.size:
            self.size = size
            _deferred(pipeline.resize(size)).addErrback(
                lambda failure: logger.error("Could not resize the file pool: %s", failure.value)
            )

    def limit_tasks(self, tasks: int | None) -> None:
        """Apply the file gate: at most ``tasks`` file tasks at once (None: lift it)."""
        pipeline = self.find()
        if pipeline is None or tasks == self.tasks or not callable(getattr(pipeline, "limit_tasks", None)):
            return
        self.tasks = tasks
        pipeline.limit_tasks(tasks)

    def running(self) -> int:
        """File tasks running now; 0 when the pipeline does not say."""
        pipeline = self.find()
        count = getattr(pipeline, "running_tasks", None)
        return int(count()) if callable(count) else 0

    def waiting(self) -> bool:
        """Whether file tasks were queued at the latest reading of the pool."""
        return bool(self.samples) and self.samples[-1].queue_length > 0


def _deferred(result: Any) -> Deferred[Any]:
    return deferred_from_coro(result) if inspect.isawaitable(result) else succeed(result)


class Actor:
    """Applies limits to the downloader, the browser and the file pool; recycles the browser."""

    def __init__(
        self,
        downloader: DownloaderControl,
        browsers: Callable[[], BrowserControl | None],
        files: FilePoolControl,
    ) -> None:
        self.downloader = downloader
        self.browsers = browsers
        self.files = files
        self.browser: BrowserControl | None = None
        self.recycling: Deferred[Any] | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler, max_file_workers: int) -> Actor:
        engine = crawler.engine
        return cls(
            DownloaderControl(engine.downloader),
            lambda: find_browser(download_handlers(crawler)),
            FilePoolControl(
                lambda: find_files_pipeline(engine.scraper.itemproc.middlewares), max_file_workers
            ),
        )

    def _browser(self) -> BrowserControl:
        # Handlers may be created lazily (on the first request of their scheme): look again
        # until a browser handler shows up.
        if self.browser is None or isinstance(self.browser, SlotsOnlyBrowser):
            found = self.browsers()
            if found is None and self.browser is None:
                found = SlotsOnlyBrowser()
                logger.info("Throttle: browser concurrency is limited through %s", found.description)
            if found is not None:
                if not isinstance(found, SlotsOnlyBrowser):
                    logger.info("Throttle: browser concurrency is applied to %s", found.description)
                self.browser = found
        assert self.browser is not None
        return self.browser

    def apply(self, limits: Limits, sample: Sample | None = None) -> None:
        self.downloader.apply(limits.concurrency)
        self._browser().set_page_limit(limits.browser_pages)
        self.files.apply(limits.file_workers, sample)

    def recycle(self) -> Deferred[Any] | None:
        """Start recycling the browser's contexts; None when one is running or nothing to do."""
        if self.recycling is not None:
            return None
        recycling = self._browser().recycle()
        if recycling is None:
            return None
        self.recycling = recycling
        recycling.addBoth(self._recycled)
        return recycling

    def _recycled(self, result: Any) -> Any:
        self.recycling = None
        return result

    def close(self) -> None:
        if self.browser is not None:
            self.browser.close()
