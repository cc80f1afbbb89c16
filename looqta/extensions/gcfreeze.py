"""Keep full garbage collections short: freeze the objects alive at engine start.

Full collections walk every tracked object, and a crawl holds >100,000 from its imports alone:
each one stalled the event loop 40-240 ms. :func:`gc.freeze` at engine start moves them out of
collections (the first crawl of a process freezes, the last to close thaws); every collection's
pause goes into stats (``looqta/gc/...``). ``LOOQTA_GC_FREEZE_ENABLED`` turns it off.
docs/throttle.md ("Garbage-collection stalls") has the measurements.
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
