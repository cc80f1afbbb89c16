"""The pool-size decision: samples in, size out, no clock and no psutil."""

from __future__ import annotations

import pytest

from looqta.throttle.pool_policy import PoolLimits, PoolSample, decide_workers

LIMITS = PoolLimits(minimum=1, maximum=4, shrink_idle_seconds=30.0)


def idle(at: float) -> PoolSample:
    return PoolSample(at=at, queue_length=0, busy_workers=0, cpu_percent=5.0)


@pytest.mark.parametrize(
    ("queue_length", "cpu", "expected"),
    [
        (11, 50.0, 3),  # long queue, CPU to spare: grow
        (10, 50.0, 2),  # not longer than 10
        (50, 80.0, 2),  # CPU not under 80 %
        (50, 79.9, 3),
    ],
)
def test_grow_needs_a_long_queue_and_spare_cpu(queue_length: int, cpu: float, expected: int) -> None:
    samples = [PoolSample(at=0.0, queue_length=queue_length, busy_workers=2, cpu_percent=cpu)]
    assert decide_workers(2, samples, LIMITS) == expected


def test_grow_uses_the_latest_queue_and_the_average_cpu() -> None:
    spike = [PoolSample(1.0, 20, 2, 95.0), PoolSample(0.0, 20, 2, 40.0)]
    assert decide_workers(2, spike, LIMITS) == 3  # average 67.5 %: one busy sample does not block growth
    drained = [PoolSample(1.0, 0, 2, 10.0), PoolSample(0.0, 50, 2, 10.0)]
    assert decide_workers(2, drained, LIMITS) == 2  # the queue was long; it is not any more


def test_never_grows_past_the_maximum() -> None:
    samples = [PoolSample(at=0.0, queue_length=100, busy_workers=4, cpu_percent=10.0)]
    assert decide_workers(4, samples, LIMITS) == 4


def test_shrinks_after_a_whole_idle_window() -> None:
    samples = [idle(at) for at in (0.0, 10.0, 20.0, 30.0)]
    assert decide_workers(3, samples, LIMITS) == 2


def test_does_not_shrink_before_the_samples_cover_the_window() -> None:
    samples = [idle(at) for at in (5.0, 10.0, 20.0, 30.0)]
    assert decide_workers(3, samples, LIMITS) == 3


def test_does_not_shrink_while_something_ran_in_the_window() -> None:
    samples = [idle(0.0), idle(10.0), PoolSample(20.0, 0, 1, 5.0), idle(30.0)]
    assert decide_workers(3, samples, LIMITS) == 3


def test_never_shrinks_under_the_minimum() -> None:
    assert decide_workers(1, [idle(0.0), idle(30.0)], LIMITS) == 1


def test_a_current_size_outside_the_limits_is_brought_back() -> None:
    assert decide_workers(9, [], LIMITS) == 4
    assert decide_workers(0, [], LIMITS) == 1


def test_limits_refuse_contradictions() -> None:
    with pytest.raises(ValueError, match="minimum <= maximum"):
        PoolLimits(minimum=3, maximum=2)
    with pytest.raises(ValueError, match="step"):
        PoolLimits(minimum=1, maximum=2, step=0)
