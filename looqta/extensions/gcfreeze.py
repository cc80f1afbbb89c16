"""Keep the garbage collector's full collections short: freeze what the crawl holds at its start.

A full (generation 2) collection walks every object the collector tracks, and the crawl's
process holds well over 100,000 from the start: the modules, classes and functions of Scrapy,
Twisted, Playwright and the project. Each full collection stalls the event loop for all of
them: 40 to 100 ms on the 2-core machine, over 200 ms under load (two or three times in a
6-page files benchmark crawl; docs/files.md, session 8).

At engine start this extension moves the objects alive then into the collector's permanent
generation (:func:`gc.freeze`), which collections skip; objects made by the crawl are collected
as before. The freeze is the process's: crawls run side by side in one process share it, so
only the first to start freezes (a later one would freeze the first one's requests and
responses in flight, uncollectable until the thaw), and the last to close thaws them
(:func:`gc.unfreeze`), so a process that goes on collects them again. A crawl lets go of it when
its spider closes or its engine stops, whichever comes first (the engine's stop is not sent
when closing the spider fails).

It also times every collection (:data:`gc.callbacks`) into stats, so the pauses show:
``looqta/gc/frozen_objects``, ``looqta/gc/collections/<generation>`` and
``looqta/gc/pause_max_ms/<generation>``. Collections are the process's too: with crawls side by
side, each one's stats count all of them.

``LOOQTA_GC_FREEZE_ENABLED`` (default True) turns the extension off.
"""

from __future__ import annotations

import gc
import logging
import time
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import NotConfigured

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)

STATS_PREFIX = "looqta/gc"
GENERATIONS = (0, 1, 2)
#: The crawls of this process holding the freeze (by ``id`` of their extension).
_holders: set[int] = set()


class CollectionTimer:
    """A :data:`gc.callbacks` entry: counts each generation's collections and their longest pause.

    A collection runs wherever an allocation triggers it, in any thread, and maybe while other
    code iterates the stats: :meth:`prepare` creates the keys first, so that the callback only
    changes values, never the stats' size.
    """

    def __init__(self, stats: StatsCollector, clock: Callable[[], float] = time.perf_counter) -> None:
        self.stats = stats
        self.clock = clock
        self._started: float | None = None

    def prepare(self) -> None:
        for generation in GENERATIONS:
            self.stats.set_value(f"{STATS_PREFIX}/collections/{generation}", 0)
            self.stats.set_value(f"{STATS_PREFIX}/pause_max_ms/{generation}", 0.0)

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = self.clock()
            return
        if self._started is None:  # registered during a collection
            return
        pause_ms = (self.clock() - self._started) * 1000
        self._started = None
        generation = info.get("generation", 0)
        self.stats.inc_value(f"{STATS_PREFIX}/collections/{generation}")
        self.stats.max_value(f"{STATS_PREFIX}/pause_max_ms/{generation}", round(pause_ms, 1))


class GcFreeze:
    def __init__(self, crawler: Crawler) -> None:
        if not crawler.settings.getbool("LOOQTA_GC_FREEZE_ENABLED", True):
            raise NotConfigured("LOOQTA_GC_FREEZE_ENABLED is off")
        self.stats = crawler.stats
        self.timer = CollectionTimer(crawler.stats)
        self.frozen = False
        crawler.signals.connect(self._engine_started, signal=signals.engine_started)
        crawler.signals.connect(self._release, signal=signals.spider_closed)
        crawler.signals.connect(self._release, signal=signals.engine_stopped)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def _engine_started(self) -> None:
        if not _holders:
            gc.freeze()
        _holders.add(id(self))
        self.frozen = True
        frozen = gc.get_freeze_count()
        self.stats.set_value(f"{STATS_PREFIX}/frozen_objects", frozen)
        self.timer.prepare()
        gc.callbacks.append(self.timer)
        logger.info("%d objects alive at engine start frozen out of garbage collections", frozen)

    def _release(self) -> None:
        if self.timer in gc.callbacks:
            gc.callbacks.remove(self.timer)
        if self.frozen:
            self.frozen = False
            _holders.discard(id(self))
            if not _holders:
                gc.unfreeze()
