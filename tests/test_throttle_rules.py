"""Each of the decision's named predicates on synthetic samples (decide() itself: test_throttle_decide)."""

from __future__ import annotations

from looqta.throttle.decide import (
    Target,
    can_step_down,
    judge,
    level_up,
    machine_overloaded,
    overloaded_at_level,
    overloaded_now,
    probe_pending,
    room_to_grow,
    site_answered_the_level,
    site_only,
    site_refusing,
)
from tests.test_throttle_decide import CONFIG, sample, series

SETTLED = Target(level=8, since=0.0, ramping=False)


def test_nothing_is_judged_before_two_readings() -> None:
    assert judge([sample(0)], 0.0, CONFIG, SETTLED) is None
    assert judge(series(0, 1), 1.0, CONFIG, SETTLED) is not None


def test_the_machine_is_overloaded_by_cpu_memory_or_loop_but_not_by_refusals() -> None:
    hot = judge(series(0, 4, cpu=95), 4.0, CONFIG, SETTLED)
    assert hot is not None
    assert machine_overloaded(hot, CONFIG) == ["cpu"]
    refused = judge([sample(t, responses=10 * t, limited=t) for t in range(5)], 4.0, CONFIG, SETTLED)
    assert refused is not None
    assert overloaded_now(refused, CONFIG) == ["rate"]
    assert machine_overloaded(refused, CONFIG) == []


def test_overloaded_at_the_level_waits_for_it_to_settle() -> None:
    fresh = Target(level=8, since=3.0, ramping=False)  # changed 1 s ago: not settled
    seen = judge(series(0, 4, cpu=95), 4.0, CONFIG, fresh)
    assert seen is not None
    assert overloaded_at_level(seen, CONFIG) == []
    assert overloaded_now(seen, CONFIG) == ["cpu"]
    settled = judge(series(0, 4, cpu=95), 4.0, CONFIG, SETTLED)
    assert settled is not None
    assert overloaded_at_level(settled, CONFIG) == ["cpu"]


def test_the_site_answered_the_level_once_it_answered_as_many_requests_as_the_level() -> None:
    samples = [sample(0), sample(1, responses=5), sample(2, responses=8)]
    assert not site_answered_the_level(samples, 0.0, 1.0, 8)
    assert site_answered_the_level(samples, 0.0, 2.0, 8)


def test_site_refusing_and_site_only() -> None:
    assert site_refusing(["rate"])
    assert site_refusing(["cpu", "rate"])
    assert not site_refusing(["cpu"])
    assert site_only(["rate"])
    assert not site_only(["cpu", "rate"])
    assert not site_only([])


def test_a_step_down_needs_an_overload_and_room_above_the_minimum() -> None:
    assert can_step_down(["cpu"], SETTLED, CONFIG)
    assert not can_step_down([], SETTLED, CONFIG)
    assert not can_step_down(["cpu"], Target(level=CONFIG.min_concurrency), CONFIG)


def test_room_to_grow_needs_clear_settled_readings_and_a_busy_crawl() -> None:
    busy = judge(series(0, 4, in_flight=8), 4.0, CONFIG, SETTLED)
    assert busy is not None
    assert room_to_grow(busy, [], SETTLED, CONFIG)
    idle = judge(series(0, 4, in_flight=2), 4.0, CONFIG, SETTLED)
    assert idle is not None
    assert not room_to_grow(idle, [], SETTLED, CONFIG)  # it does not use what it has
    assert not room_to_grow(busy, ["cpu"], SETTLED, CONFIG)
    at_max = Target(level=CONFIG.max_concurrency, ramping=False)
    assert not room_to_grow(busy, [], at_max, CONFIG)


def test_a_probe_is_pending_until_its_time() -> None:
    refused = Target(level=11, ceiling=12, probe_at=60.0, ramping=False)
    assert probe_pending(refused, 59.0)
    assert not probe_pending(refused, 60.0)


def test_a_step_up_doubles_while_ramping_halves_the_gap_to_a_ceiling_and_stays_under_a_probe() -> None:
    assert level_up(Target(level=4), CONFIG, 0.0) == (8, None, " (doubling until the first overload)")
    assert level_up(Target(level=4, ceiling=12, ramping=False), CONFIG, 0.0) == (
        5,
        12,
        " (overloaded at 12 last)",
    )
    assert level_up(Target(level=8, ceiling=16, ramping=False), CONFIG, 0.0)[0] == 10
    held = Target(level=11, ceiling=12, probe_at=60.0, ramping=False)
    assert level_up(held, CONFIG, 9.0) == (11, 12, " (refused at 12 last; probed again in 51 s)")
    assert level_up(held, CONFIG, 60.0)[0] == 12
    # At (or past) the ceiling, it clears.
    assert level_up(Target(level=12, ceiling=12, ramping=False), CONFIG, 0.0)[1] is None
