"""The file-workers control on a fake pool: its own policy under the throttle's cap, and the file gate."""

from __future__ import annotations

from typing import Any

from scrapy.utils.test import get_crawler

from looqta.throttle.file_workers import FileWorkers
from looqta.throttle.sampler import Sample


class FakePool:
    """The file pool's side of the seam: ``resize``, ``limit_tasks`` and ``running``."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.limits: list[int | None] = []
        self.running = 0

    def resize(self, size: int) -> int:
        self.sizes.append(size)
        return size

    def limit_tasks(self, tasks: int | None) -> None:
        self.limits.append(tasks)


class Backlog:
    def __init__(self) -> None:
        self.pending, self.workers_active = 0, 0


def reading(at: float, cpu: float = 30.0) -> Sample:
    return Sample(
        at=at,
        cpu_percent=cpu,
        memory_percent=40.0,
        available_bytes=8 << 30,
        tree=None,
        loop_lag_seconds=0,
        loop_ticks=(),
    )


def control_on(pool: FakePool, backlog: Backlog | None, maximum: int, **kwargs: Any) -> FileWorkers:
    return FileWorkers(pool, maximum, lambda: backlog, **kwargs)


def test_the_file_pool_follows_its_own_policy_under_the_level_cap() -> None:
    pool, backlog = FakePool(), Backlog()
    control = control_on(pool, backlog, maximum=4)
    control.apply(2, reading(0.0))  # the policy starts at the maximum: the cap rules
    control.apply(1, reading(1.0))  # the level drops: the cap wins at once
    control.apply(4, reading(2.0))  # and lifts: back to what the policy wants
    backlog.pending = 50  # a long queue with the CPU free: the policy would grow...
    control.apply(4, reading(3.0))  # ...but it is at the maximum already
    backlog.pending = 0
    for at in range(4, 35):  # idle for 30 s: the policy shrinks by one
        control.apply(4, reading(float(at)))
    assert pool.sizes == [2, 1, 4, 3]
    assert (control.wanted, control.level) == (3, 3)


def test_an_early_check_or_no_published_numbers_only_caps() -> None:
    pool = FakePool()
    control = control_on(pool, None, maximum=2)
    control.apply(2, reading(0.0))
    control.apply(1, None)
    assert pool.sizes == [2, 1]
    assert not control.samples


def test_the_file_gate_is_passed_on_when_it_changes_and_reads_the_pool() -> None:
    pool, backlog = FakePool(), Backlog()
    stats = get_crawler().stats
    control = control_on(pool, backlog, maximum=2, stats=stats)
    for tasks in (2, 2, 1, 0, 0, None):
        control.limit_tasks(tasks)
    assert pool.limits == [2, 1, 0, None]
    assert stats is not None
    assert stats.get_value("looqta/files/tasks_allowed") == 0  # None (lifted) is not a number
    pool.running, backlog.pending = 2, 0
    control.apply(2, reading(0.0))
    assert (control.running(), control.waiting()) == (2, False)
    assert stats.get_value("looqta/files/workers/total") == 2
    backlog.pending = 7
    control.apply(2, reading(1.0))
    assert control.waiting()
