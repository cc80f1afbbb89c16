"""The throttle's sampler: injected readers and clock, a bounded window, nothing slow on the reactor."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import namedtuple
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import psutil
import pytest
from scrapy import Request, signals
from scrapy.http import Response
from scrapy.utils.test import get_crawler
from twisted.internet.defer import Deferred, fail, succeed

from looqta.throttle.sampler import (
    CrawlReading,
    LagProbe,
    LagReading,
    PsutilReader,
    Sample,
    Sampler,
    ScrapyCounters,
    SystemReading,
    TreeMemory,
    cpu_shares,
)

if TYPE_CHECKING:
    from collections.abc import Callable


class Clock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeReader:
    def __init__(self) -> None:
        self.system_reading = SystemReading(cpu_percent=42.0, memory_percent=55.0, available_bytes=3 << 30)
        self.tree = TreeMemory(rss_bytes=500 << 20, pss_bytes=300 << 20, processes=7)
        self.tree_calls: list[int] = []

    def system(self) -> SystemReading:
        return self.system_reading

    def tree_memory(self, pid: int) -> TreeMemory:
        self.tree_calls.append(pid)
        return self.tree


class FakeCounters:
    def __init__(self) -> None:
        self.reading = CrawlReading(responses=10, rate_limited=1, pages=4, in_flight=3)

    def read(self) -> CrawlReading:
        return self.reading


class ManualSchedule:
    """Stands in for ``call_later``: remembers the callback, the test fires it."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, Callable[[], None]]] = []
        self.cancelled = 0

    def __call__(self, delay: float, func: Callable[[], None]) -> ManualSchedule:
        self.calls.append((delay, func))
        return self

    def cancel(self) -> None:
        self.cancelled += 1

    def fire(self) -> None:
        self.calls[-1][1]()


def make_sampler(
    clock: Clock, reader: FakeReader, *, in_thread: Callable[..., Deferred[Any]] | None = None
) -> Sampler:
    probe = LagProbe(clock, 0.1, schedule=ManualSchedule())  # type: ignore[arg-type]
    return Sampler(
        reader,
        FakeCounters(),
        probe,
        clock=clock,
        keep_seconds=2.0,
        root_pid=1234,
        in_thread=in_thread or (lambda function, *args: succeed(function(*args))),
        tree_interval_seconds=5.0,
    )


def test_a_sample_joins_the_machine_the_tree_the_loop_and_the_crawl_at_one_instant() -> None:
    clock, reader = Clock(), FakeReader()
    sampler = make_sampler(clock, reader)
    first = sampler.sample()
    assert first == Sample(
        at=100.0,
        cpu_percent=42.0,
        memory_percent=55.0,
        available_bytes=3 << 30,
        tree=None,  # no tree reading has finished yet
        loop_lag_seconds=0.0,
        loop_ticks=(),
        responses=10,
        rate_limited=1,
        pages=4,
        in_flight=3,
    )
    sampler.refresh_tree()
    clock.now = 101.0
    second = sampler.sample()
    sampler.refresh_tree()  # read 1 s ago: not again yet
    assert reader.tree_calls == [1234]
    assert second.tree == reader.tree
    assert second.tree_bytes == 300 << 20  # PSS where known


def test_the_window_keeps_samples_by_their_age_not_their_number() -> None:
    clock = Clock()
    sampler = make_sampler(clock, FakeReader())
    for at in (0.0, 1.0, 2.0, 3.0, 3.1, 3.2, 3.3, 3.4, 4.0):
        clock.now = at
        sampler.sample()
    # Kept for 2 s (readings after t = 2), and the reading at 2 where the oldest interval starts;
    # a burst of readings does not push the older ones out.
    assert [s.at for s in sampler.samples] == [2.0, 3.0, 3.1, 3.2, 3.3, 3.4, 4.0]


def test_the_tree_is_read_off_the_reactor_one_reading_at_a_time() -> None:
    clock, reader = Clock(), FakeReader()
    running: list[Deferred[Any]] = []

    def in_thread(function: Callable[..., Any], *args: Any) -> Deferred[Any]:
        running.append(Deferred())
        running[-1].addCallback(lambda _: function(*args))
        return running[-1]

    sampler = make_sampler(clock, reader, in_thread=in_thread)
    sampler.refresh_tree()
    clock.now += 10
    sampler.refresh_tree()  # still running: not started twice
    assert len(running) == 1
    assert sampler.sample().tree is None
    running[0].callback(None)
    assert sampler.sample().tree == reader.tree
    sampler.refresh_tree()  # started 10 s ago and finished: due again
    assert len(running) == 2


def test_a_failed_tree_reading_keeps_the_previous_one() -> None:
    clock, reader = Clock(), FakeReader()
    sampler = make_sampler(clock, reader)
    sampler.refresh_tree()
    sampler.in_thread = lambda function, *args: fail(psutil.AccessDenied(1234))
    clock.now += 5
    sampler.refresh_tree()
    assert sampler.sample().tree == reader.tree


def rounded(reading: LagReading) -> tuple[float, list[tuple[float, float]]]:
    ticks = [(round(tick.span_seconds, 3), round(tick.late_seconds, 3)) for tick in reading.ticks]
    return round(reading.worst_seconds, 3), ticks


def test_loop_lag_is_how_late_the_probe_fires_the_worst_and_each_firing_since_the_last_sample() -> None:
    clock = Clock(0.0)
    schedule = ManualSchedule()
    probe = LagProbe(clock, 0.1, schedule=schedule)  # type: ignore[arg-type]
    probe.start()
    clock.now = 0.35  # due at 0.1: 250 ms late, covering 350 ms
    schedule.fire()
    clock.now = 0.46  # due at 0.45: 10 ms late
    schedule.fire()
    assert rounded(probe.take()) == (0.25, [(0.35, 0.25), (0.11, 0.01)])
    clock.now = 0.5  # the next is due at 0.56: on time; the reading closes its span so far
    assert rounded(probe.take()) == (0.0, [(0.04, 0.0)])
    clock.now = 0.9  # a blocked loop has not fired it yet: it counts already
    assert rounded(probe.take()) == (0.34, [(0.4, 0.34)])
    clock.now = 1.0  # it fires 440 ms late; it covers only the time since the last reading
    schedule.fire()
    assert rounded(probe.take()) == (0.44, [(0.1, 0.44)])
    probe.stop()
    assert schedule.cancelled == 1
    assert probe.take() == LagReading(0.0, ())  # stopped: nothing more


@pytest.mark.serial  # the reading is bounded to 50 ms of wall-clock time
def test_the_psutil_reader_reads_this_process_tree_with_pss() -> None:
    reader = PsutilReader()
    started = time.perf_counter()
    system = reader.system()
    elapsed = time.perf_counter() - started
    assert 0.0 <= system.cpu_percent <= 100.0
    assert 0.0 < system.memory_percent < 100.0
    assert system.available_bytes > 0
    assert elapsed < 0.05  # the part read on the reactor does not block it
    tree = reader.tree_memory(os.getpid())
    assert tree.processes >= 1
    assert tree.rss_bytes >= psutil.Process().memory_info().rss // 2
    assert tree.pss_bytes is not None  # Linux reports PSS
    assert 0 < tree.pss_bytes <= tree.rss_bytes


def test_cpu_shares_are_deltas_over_the_real_time_between_readings() -> None:
    times = namedtuple("times", "user nice system idle iowait irq softirq steal guest guest_nice")
    before = times(100.0, 50.0, 20.0, 1000.0, 5.0, 0.0, 0.0, 0.0, 30.0, 10.0)
    # 0.4 s of CPU time in all (two cores for 0.2 s): 0.1 user (of it 0.05 guest), 0.1 niced,
    # 0.05 system, 0.1 idle, 0.05 I/O wait. Guest time is inside user and nice: not counted twice.
    after = times(100.1, 50.1, 20.05, 1000.1, 5.05, 0.0, 0.0, 0.0, 30.05, 10.0)
    busy, nice = cpu_shares(before, after)
    assert (round(busy, 6), round(nice, 6)) == (62.5, 25.0)  # 0.25 of 0.4 busy, 0.1 of 0.4 niced
    assert cpu_shares(after, after) == (0.0, 0.0)  # no time passed


def test_the_psutil_reader_tells_niced_cpu_apart() -> None:
    # A niced busy loop, like a file worker: its CPU shows in the niced share, inside the busy one.
    script = "import os, time\nos.nice(19)\nend = time.time() + 20\nwhile time.time() < end: pass"
    hog = subprocess.Popen([sys.executable, "-c", script])
    try:
        reader = PsutilReader()
        time.sleep(1.0)
        reading = reader.system()
    finally:
        hog.kill()
        hog.wait()
    # Even on a busy machine a nice-19 loop gets some CPU; the share is never above the busy one.
    assert 0.0 < reading.nice_cpu_percent <= reading.cpu_percent <= 100.0


def test_crawl_counters_come_from_scrapy_stats_and_rendered_responses() -> None:
    crawler = get_crawler()
    stats = crawler.stats
    assert stats is not None
    for key, value in {
        "downloader/response_count": 50,
        "downloader/response_status_count/429": 3,
        "downloader/response_status_count/503": 2,
        "downloader/response_status_count/200": 45,
    }.items():
        stats.set_value(key, value)
    crawler.engine = SimpleNamespace(downloader=SimpleNamespace(active={"a", "b"}))  # type: ignore[assignment]
    counters = ScrapyCounters(crawler)
    for meta in ({"playwright": True}, {}, {"playwright": True}):
        request = Request("http://127.0.0.1/", meta=meta)
        crawler.signals.send_catch_log(
            signals.response_downloaded,
            response=Response(request.url, request=request),
            request=request,
            spider=None,
        )
    assert counters.read() == CrawlReading(responses=50, rate_limited=5, pages=2, in_flight=2)
