"""Collect: timestamped readings of the machine, the crawl's process tree, the event loop and the crawl.

Nothing here decides anything. :class:`Sampler` turns one tick into a :class:`Sample` and keeps
the samples of one window. Its sources are injected, so tests hand it fakes:

* a :class:`SystemReader` (default :class:`PsutilReader`): system CPU from two non-blocking
  ``psutil.cpu_times()`` readings (the shares since the previous check: busy, and of it the
  share spent by niced processes such as the file workers), memory used and available
  (cheap, read on the reactor every check), and the memory of the crawl's process tree in RSS
  and PSS; PSS walks every process's page tables (tens of milliseconds for a browser), so the
  tree is read in a thread every :data:`TREE_READ_INTERVAL_SECONDS` and each sample carries the
  latest finished reading;
* :class:`LagProbe`: the event loop's lag, from a timer that should fire every
  :data:`LAG_PROBE_INTERVAL_SECONDS` and measures how late it does: the worst lateness since the
  previous sample, and each firing with the time it covers (so the decision can tell one 200 ms
  stall in a second from a loop late at every firing);
* a :class:`CrawlCounters` (default :class:`ScrapyCounters`): the crawl's cumulative counters
  (responses, 429/503 answers, rendered pages) and the requests in the downloader.
"""

from __future__ import annotations

import logging
import math
import os
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import psutil
from scrapy import signals
from scrapy.utils.asyncio import call_later
from twisted.internet.threads import deferToThread

from looqta import internals

if TYPE_CHECKING:
    from collections.abc import Callable

    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.utils.asyncio import CallLaterResult
    from twisted.internet.defer import Deferred
    from twisted.python.failure import Failure

logger = logging.getLogger(__name__)

#: How often the event-loop probe wakes up; its lateness is the loop's lag.
LAG_PROBE_INTERVAL_SECONDS = 0.1
#: How often the process tree's memory is read: PSS walks the page tables of every process
#: (tens of milliseconds for a browser, and it contends with the browser's own page faults),
#: and a tree's memory moves slower than its CPU. The machine's memory is read every check.
TREE_READ_INTERVAL_SECONDS = 5.0
#: Answers that say "slow down".
RATE_LIMIT_STATUSES: tuple[int, ...] = (429, 503)


@dataclass(frozen=True)
class SystemReading:
    cpu_percent: float  #: all cores busy, 0..100, since the previous reading
    memory_percent: float  #: used, 0..100
    available_bytes: int
    #: Of ``cpu_percent``, the user time of niced processes (nice > 0): background work, such as
    #: the file workers, that gives the CPU up to the crawl whenever the crawl wants it.
    nice_cpu_percent: float = 0.0


@dataclass(frozen=True)
class TreeMemory:
    """Memory of a process and all its descendants."""

    rss_bytes: int
    pss_bytes: int | None  #: None where the system does not report PSS
    processes: int

    @property
    def bytes(self) -> int:
        """PSS when known (shared pages counted once across the tree), else RSS."""
        return self.pss_bytes if self.pss_bytes is not None else self.rss_bytes


@dataclass(frozen=True)
class CrawlReading:
    responses: int  #: cumulative responses downloaded
    rate_limited: int  #: cumulative 429 and 503 answers
    pages: int  #: cumulative pages rendered in the browser
    in_flight: int  #: requests in the downloader now


@dataclass(frozen=True)
class Sample:
    """Everything known at one instant ``at`` (seconds on a monotonic clock)."""

    at: float
    cpu_percent: float
    memory_percent: float
    available_bytes: int
    tree: TreeMemory | None  #: the latest finished tree reading; None before the first
    loop_lag_seconds: float  #: the worst lag since the previous sample
    loop_ticks: tuple[LagTick, ...]  #: the lag probe's firings since the previous sample
    nice_cpu_percent: float = 0.0  #: of ``cpu_percent``, niced processes' share
    responses: int = 0
    rate_limited: int = 0
    pages: int = 0
    in_flight: int = 0

    @property
    def tree_bytes(self) -> int | None:
        return None if self.tree is None else self.tree.bytes


class SystemReader(Protocol):
    def system(self) -> SystemReading:
        """The machine now; cheap, called on the reactor."""

    def tree_memory(self, pid: int) -> TreeMemory:
        """Memory of ``pid`` and its descendants; may block, called in a thread."""


class CrawlCounters(Protocol):
    def read(self) -> CrawlReading: ...


def cpu_shares(before: Any, after: Any) -> tuple[float, float]:
    """``(busy %, niced %)`` of all cores between two ``psutil.cpu_times()`` readings.

    Busy is everything but idle and I/O wait (as ``psutil.cpu_percent`` counts it); niced is the
    user time of processes at nice > 0. Guest time is already inside user and nice on Linux, so
    it is left out of the total. ``(0, 0)`` when no time passed.
    """
    deltas = {name: getattr(after, name) - getattr(before, name) for name in after._fields}
    total = sum(value for name, value in deltas.items() if name not in ("guest", "guest_nice"))
    if total <= 0:
        return 0.0, 0.0
    idle = deltas.get("idle", 0.0) + deltas.get("iowait", 0.0)

    def share(value: float) -> float:
        return min(100.0, max(0.0, 100.0 * value / total))

    return share(total - idle), share(deltas.get("nice", 0.0))


class PsutilReader:
    """:class:`SystemReader` on psutil.

    CPU shares come from this reader's own previous ``psutil.cpu_times()`` (not psutil's
    module-wide last reading, which other readers in the process would move), over the real
    time between two reads.
    """

    def __init__(self) -> None:
        self._cpu_times = psutil.cpu_times()

    def system(self) -> SystemReading:
        memory = psutil.virtual_memory()
        now = psutil.cpu_times()
        busy, nice = cpu_shares(self._cpu_times, now)
        self._cpu_times = now
        return SystemReading(
            cpu_percent=busy,
            memory_percent=memory.percent,
            available_bytes=memory.available,
            nice_cpu_percent=nice,
        )

    def tree_memory(self, pid: int) -> TreeMemory:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
        rss = pss = counted = 0
        pss_known = True
        for process in processes:
            try:
                info = process.memory_full_info() if pss_known else process.memory_info()
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue  # it exited between the listing and the reading: it holds nothing now
            except psutil.AccessDenied:
                # PSS of another user's process (a setuid sandbox helper): fall back to RSS
                pss_known, info = False, process.memory_info()
            rss += info.rss
            value = getattr(info, "pss", None)
            if value is None:
                pss_known = False
            else:
                pss += value
            counted += 1
        return TreeMemory(rss_bytes=rss, pss_bytes=pss if pss_known else None, processes=counted)


class ScrapyCounters:
    """:class:`CrawlCounters` from the crawl's stats, downloader and responses.

    Rendered pages are counted here, from the responses of ``playwright`` requests, because the
    page pool reuses pages: scrapy-playwright's ``playwright/page_count`` counts pages opened.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.rendered = 0
        crawler.signals.connect(self._response_downloaded, signal=signals.response_downloaded)

    def _response_downloaded(self, response: Response, request: Request, spider: Spider) -> None:
        if request.meta.get("playwright"):
            self.rendered += 1

    def read(self) -> CrawlReading:
        stats = self.crawler.stats
        return CrawlReading(
            responses=stats.get_value("downloader/response_count", 0),
            rate_limited=sum(
                stats.get_value(f"downloader/response_status_count/{status}", 0)
                for status in RATE_LIMIT_STATUSES
            ),
            pages=self.rendered,
            in_flight=internals.in_flight(internals.downloader(self.crawler)),
        )


class LagTick(NamedTuple):
    span_seconds: float  #: the time the firing covers: since the previous firing or reading
    late_seconds: float  #: how late the timer was at its end


@dataclass(frozen=True)
class LagReading:
    worst_seconds: float  #: the latest the probe fired (or is overdue now)
    ticks: tuple[LagTick, ...]  #: the firings since the previous reading, in order


class LagProbe:
    """How late the event loop runs a timer, since the last :meth:`take`: the worst lateness,
    and each firing with the time it covers.

    A firing later than the loop-lag limit means the loop was busy for about all the time since
    the previous one; :func:`looqta.throttle.loads.loop_over_seconds` adds those spans up, so one
    long stall counts for its own length and a loop late at every firing for all of its time.
    :meth:`take` runs on the loop, so the loop was free then: it closes the span in progress (as
    late as the timer is overdue, a loop that was blocked until the reading) and the next firing
    covers only the time after it.
    """

    def __init__(
        self,
        clock: Callable[[], float],
        interval_seconds: float = LAG_PROBE_INTERVAL_SECONDS,
        schedule: Callable[..., CallLaterResult] = call_later,
    ) -> None:
        self.clock = clock
        self.interval_seconds = interval_seconds
        self.schedule = schedule
        self.ticks: list[LagTick] = []
        self._due = 0.0
        self._span_from = 0.0
        self._call: CallLaterResult | None = None

    def start(self) -> None:
        self._arm()

    def stop(self) -> None:
        if self._call is not None:
            self._call.cancel()
            self._call = None

    def take(self) -> LagReading:
        """The readings since the previous call, counting a timer that is late right now."""
        now = self.clock()
        if self._call is not None and now > self._span_from:
            self._tick(now)
            self._span_from = now
        worst = max((tick.late_seconds for tick in self.ticks), default=0.0)
        reading = LagReading(worst, tuple(self.ticks))
        self.ticks = []
        return reading

    def _tick(self, now: float) -> None:
        self.ticks.append(LagTick(now - self._span_from, max(0.0, now - self._due)))

    def _arm(self) -> None:
        now = self.clock()
        self._span_from = now
        self._due = now + self.interval_seconds
        self._call = self.schedule(self.interval_seconds, self._fired)

    def _fired(self) -> None:
        self._tick(self.clock())
        self._arm()


def _thread(function: Callable[..., Any], *args: Any) -> Deferred[Any]:
    return deferToThread(function, *args)


class Sampler:
    """One :class:`Sample` per :meth:`sample` call, kept for ``keep_seconds``.

    Samples are kept by age, not by count: checks are not evenly spaced (a refusal brings one
    forward), and the judgement needs the same span of time whatever their number. One sample
    older than ``keep_seconds`` stays, the start of the oldest interval kept.
    """

    def __init__(
        self,
        reader: SystemReader,
        counters: CrawlCounters,
        probe: LagProbe,
        *,
        clock: Callable[[], float],
        keep_seconds: float,
        root_pid: int | None = None,
        in_thread: Callable[..., Deferred[Any]] = _thread,
        tree_interval_seconds: float = TREE_READ_INTERVAL_SECONDS,
    ) -> None:
        self.reader = reader
        self.counters = counters
        self.probe = probe
        self.clock = clock
        self.root_pid = os.getpid() if root_pid is None else root_pid
        self.in_thread = in_thread
        self.keep_seconds = keep_seconds
        self.samples: deque[Sample] = deque()
        self.tree_interval_seconds = tree_interval_seconds
        self.tree: TreeMemory | None = None
        self._tree_reading: Deferred[Any] | None = None
        self._tree_read_at = -math.inf

    def sample(self) -> Sample:
        system = self.reader.system()
        crawl = self.counters.read()
        lag = self.probe.take()
        sample = Sample(
            at=self.clock(),
            cpu_percent=system.cpu_percent,
            memory_percent=system.memory_percent,
            available_bytes=system.available_bytes,
            tree=self.tree,
            loop_lag_seconds=lag.worst_seconds,
            loop_ticks=lag.ticks,
            nice_cpu_percent=system.nice_cpu_percent,
            responses=crawl.responses,
            rate_limited=crawl.rate_limited,
            pages=crawl.pages,
            in_flight=crawl.in_flight,
        )
        self.samples.append(sample)
        while len(self.samples) > 2 and self.samples[1].at <= sample.at - self.keep_seconds:
            self.samples.popleft()
        return sample

    def refresh_tree(self) -> None:
        """Start reading the tree's memory in a thread, unless one is running or was just taken."""
        now = self.clock()
        if self._tree_reading is not None or now - self._tree_read_at < self.tree_interval_seconds:
            return
        self._tree_read_at = now
        reading = self.in_thread(self.reader.tree_memory, self.root_pid)
        self._tree_reading = reading
        reading.addCallbacks(self._tree_read, self._tree_failed)
        reading.addBoth(self._tree_done)

    def _tree_read(self, tree: TreeMemory) -> None:
        self.tree = tree

    def _tree_failed(self, failure: Failure) -> None:
        # Keep the previous reading: a missing one must not look like an empty tree.
        logger.warning("Could not read the crawl's process-tree memory: %s", failure.getErrorMessage())

    def _tree_done(self, _: object) -> None:
        self._tree_reading = None
