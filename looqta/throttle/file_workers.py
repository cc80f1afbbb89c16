"""The file-workers control: the file pool's size by its own demand policy, capped by the throttle.

The files pipeline builds one around its :class:`~looqta.files.service.FileService` and
registers it. Besides the pool's size it carries the file gate's side (:mod:`looqta.throttle.gate`):
how many file tasks may run at once, and how many do.
"""

from __future__ import annotations

import inspect
import logging
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

from scrapy.utils.defer import deferred_from_coro
from twisted.internet.defer import succeed

from looqta.throttle.pool_policy import PoolLimits, PoolSample, decide_workers

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from scrapy.statscollectors import StatsCollector
    from twisted.internet.defer import Deferred

    from looqta.throttle.controls import Follows
    from looqta.throttle.sampler import Sample

logger = logging.getLogger(__name__)

#: How long the pool's samples are kept (its policy shrinks after 30 s idle).
HISTORY_SECONDS = 60.0


class FilePool(Protocol):
    """What the control needs of the file pool (:class:`~looqta.files.service.FileService`)."""

    @property
    def running(self) -> int:
        """File tasks running now."""

    def resize(self, size: int) -> Awaitable[int] | int:
        """Run ``size`` workers (clamped to the pool's bounds); the size now running."""

    def limit_tasks(self, tasks: int | None) -> None:
        """Start no task while ``tasks`` run (None: one per worker; 0 holds new work)."""


class Backlog(Protocol):
    """The pool's latest published numbers (the pipeline's ``FilesSnapshot``)."""

    pending: int
    workers_active: int


class FileWorkers:
    """Sizes the file pool: its own policy decides by demand, the throttle's level caps it."""

    follows: Follows = "file_workers"
    description = "the file pool's workers"

    def __init__(
        self,
        pool: FilePool,
        maximum: int,
        latest: Callable[[], Backlog | None],
        stats: StatsCollector | None = None,
        stats_prefix: str = "looqta/files",
    ) -> None:
        self.pool = pool
        self.maximum = maximum
        self.latest = latest  #: the pool's latest numbers; None before the first are published
        self.stats = stats
        self.stats_prefix = stats_prefix
        self.wanted = maximum  #: the policy's answer, before the cap
        self.size: int | None = None  #: the size last asked for
        self.tasks: int | None = None  #: the file tasks at once last allowed
        self.samples: deque[PoolSample] = deque()

    @property
    def level(self) -> int | None:
        return self.size

    def apply(self, level: int, sample: Sample | None) -> None:
        backlog = self.latest() if sample is not None else None
        if sample is not None and backlog is not None:
            self._feed(PoolSample(sample.at, backlog.pending, backlog.workers_active, sample.cpu_percent))
        size = min(self.wanted, level)
        if size != self.size:
            self.size = size
            self._resize(size).addErrback(
                lambda failure: logger.error("Could not resize the file pool: %s", failure.value)
            )

    def _feed(self, reading: PoolSample) -> None:
        self.samples.append(reading)
        while self.samples[0].at < reading.at - HISTORY_SECONDS:
            self.samples.popleft()
        limits = PoolLimits(minimum=1, maximum=self.maximum)
        self.wanted = decide_workers(self.wanted, list(self.samples), limits)

    def _resize(self, size: int) -> Deferred[Any]:
        result = self.pool.resize(size)
        if inspect.isawaitable(result):
            return deferred_from_coro(result).addCallback(self._resized)
        return succeed(self._resized(result))

    def _resized(self, running: int) -> int:
        if self.stats is not None:
            self.stats.set_value(f"{self.stats_prefix}/workers/total", running)
        return running

    def limit_tasks(self, tasks: int | None) -> None:
        """The file gate: at most ``tasks`` file tasks at once (None: lift it)."""
        if tasks == self.tasks:
            return
        self.tasks = tasks
        self.pool.limit_tasks(tasks)
        if tasks is not None and self.stats is not None:
            self.stats.set_value(f"{self.stats_prefix}/tasks_allowed", tasks)

    def running(self) -> int:
        """File tasks running now."""
        return self.pool.running

    def waiting(self) -> bool:
        """Whether file tasks were queued at the latest reading of the pool."""
        return bool(self.samples) and self.samples[-1].queue_length > 0

    def recycle(self) -> Deferred[Any] | None:
        return None

    def close(self) -> None:
        """The pipeline closes the pool."""
