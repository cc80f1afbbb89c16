"""The throttle's decision on synthetic timestamped samples: exact answers, no clock, no sleeping."""

from __future__ import annotations

import dataclasses

import pytest

from looqta.throttle.config import MIB, ThrottleConfig
from looqta.throttle.decide import Limits, Target, decide, limits_for
from looqta.throttle.loads import Load, loads, refused_share
from looqta.throttle.recycle import RecycleMark, recycle_reason
from looqta.throttle.sampler import LagTick, Sample, TreeMemory

CONFIG = ThrottleConfig(
    check_interval_seconds=1.0,
    window_seconds=10.0,
    settle_seconds=3.0,
    max_concurrency=16,
    start_concurrency=16,
    max_browser_pages=4,
    max_file_workers=2,
    max_tree_memory_mib=1000,
    recycle_after_pages=100,
)


def sample(
    at: float,
    *,
    cpu: float = 30.0,
    nice: float = 0.0,
    memory: float = 40.0,
    free_mib: float = 8000,
    tree_mib: float | None = None,
    lag_ms: float = 1.0,
    over_ms: float | None = None,
    responses: int = 0,
    limited: int = 0,
    pages: int = 0,
    in_flight: int = 0,
) -> Sample:
    tree = None if tree_mib is None else TreeMemory(int(tree_mib * MIB), int(tree_mib * MIB), 5)
    return Sample(
        at=at,
        cpu_percent=cpu,
        memory_percent=memory,
        available_bytes=int(free_mib * MIB),
        tree=tree,
        loop_lag_seconds=lag_ms / 1000,
        # One firing of the lag probe, ``lag_ms`` late, covering ``over_ms``; by default a single
        # stall: the probe's 100 ms wait and the stall.
        loop_ticks=(LagTick((100 + lag_ms if over_ms is None else over_ms) / 1000, lag_ms / 1000),),
        nice_cpu_percent=nice,
        responses=responses,
        rate_limited=limited,
        pages=pages,
        in_flight=in_flight,
    )


def series(start: int, end: int, **readings: float) -> list[Sample]:
    """One sample a second, ``start``..``end`` inclusive, all with the same readings."""
    return [sample(float(t), **readings) for t in range(start, end + 1)]  # type: ignore[arg-type]


# judging a span ------------------------------------------------------------------------------


def test_overloaded_share_is_weighted_by_the_time_each_reading_covers() -> None:
    samples = [sample(0), sample(1), sample(2, cpu=95), sample(4, cpu=90)]
    judged = loads(samples, 0.0, 4.0, CONFIG)
    # (1, 2] and (2, 4] are over 80 %: 3 of 4 seconds.
    assert judged["cpu"] == Load(0.75, "CPU 90% > 80%")
    assert judged["memory"] == Load(0.0, "")


def test_a_span_with_no_interval_ending_in_it_is_not_judged() -> None:
    assert loads([sample(0), sample(1)], 1.0, 5.0, CONFIG) == {}


def test_rate_limits_are_the_share_of_answers_in_each_interval() -> None:
    samples = [sample(0), sample(1, responses=100, limited=5), sample(2, responses=200, limited=30)]
    # By default any refusal counts: both intervals.
    assert loads(samples, 0.0, 2.0, CONFIG)["rate"] == Load(1.0, "25 of 100 responses 429/503")
    # With a 10 % tolerance, 5 % in the first interval is within it; 25 of 100 in the second is not.
    tolerant = dataclasses.replace(CONFIG, max_rate_limited_percent=10.0)
    assert loads(samples, 0.0, 2.0, tolerant)["rate"] == Load(0.5, "25 of 100 responses 429/503")


def test_one_refusal_a_second_one_over_the_sites_limit_steps_down() -> None:
    # Level 13 against a site that takes 12 at once: 1 refusal in every 13 answers (7.7 %), and
    # only in one interval of three. A refused share under a tolerance, or a time share under
    # the 40 % allowance, would keep the crawl there, stalled by every Retry-After.
    samples = [sample(t, responses=13 * t, limited=t // 3, in_flight=13) for t in range(7)]
    decision = decide(samples, 6.0, CONFIG, Target(level=13, since=0.0, ramping=False))
    assert decision.action == "down"
    # One level, not a quarter of them (a 25 % step would give 9); 13 is probed again in 60 s.
    # The answers to level 12 begin once the 13 in the downloader at t = 6 are answered: 78 + 13.
    assert decision.target == Target(
        level=12, since=6.0, ramping=False, ceiling=13, probe_at=66.0, answered_before=91
    )


# stepping down, pausing, resuming ----------------------------------------------------------------


def test_cpu_over_the_limit_most_of_the_time_steps_down_and_pauses() -> None:
    samples = [*series(0, 2), *series(3, 5, cpu=97)]
    decision = decide(samples, 5.0, CONFIG, Target(level=16, since=0.0))
    assert decision.action == "down"
    # 16 - ceil(16 * 0.25) = 12; the last 3 s are all over, so new work is held too.
    assert decision.target == Target(level=12, paused=True, since=5.0, ramping=False, ceiling=16)
    # (The first reading after the level's change at t = 0 is not judged: (1, 5], 3 of 4 s over.)
    assert decision.reason == "CPU 97% > 80% (75% of the time): level 16 -> 12"
    assert limits_for(decision.target, CONFIG) == Limits(concurrency=1, browser_pages=1, file_workers=1)


def test_an_overload_is_judged_once_not_again_after_the_step_it_caused() -> None:
    samples = [*series(0, 5, cpu=97), *series(6, 9)]
    decision = decide(samples, 9.0, CONFIG, Target(level=12, paused=True, since=5.0))
    # Only (5, 9] counts: it is clear, so the level stays and new work resumes; the level is
    # judged from the resume on (readings at the minimum say nothing of it).
    assert decision.action == "resume"
    assert decision.target == Target(level=12, paused=False, since=9.0)
    assert limits_for(decision.target, CONFIG) == Limits(concurrency=12, browser_pages=3, file_workers=2)


def test_before_a_new_level_has_settled_an_overload_pauses_but_keeps_the_level() -> None:
    samples = [*series(0, 3), *series(4, 5, cpu=99)]
    decision = decide(samples, 5.0, CONFIG, Target(level=12, since=4.0))
    assert decision.action == "pause"
    assert decision.target == Target(level=12, paused=True, since=4.0)
    assert decision.reason == "CPU 99% > 80% (67% of the time): new work held at the minimum"


def test_a_start_up_stall_alone_does_not_pause_the_crawl() -> None:
    # The crawl's first second: its loop stalled 517 ms while it started, 617 ms with the
    # probe's wait: a fifth of the last 3 s, under the 40 % allowance: no pause at the minimum.
    start = Target(level=32, since=0.0)
    samples = [sample(0), sample(1, lag_ms=517, in_flight=32)]
    decision = decide(samples, 1.0, CONFIG, start)
    assert decision.loads["loop"].share == pytest.approx(0.617 / 3)
    assert decision.loads["loop"].reason == "event-loop lag 517 ms > 100 ms"
    assert (decision.action, decision.target) == ("hold", start)
    # A loop late at every firing the next second is over all of it: new work is held.
    samples.append(sample(2, lag_ms=400, over_ms=1000, in_flight=32))
    assert decide(samples, 2.0, CONFIG, start).action == "pause"
    # Memory has no allowance: one reading over the limit holds new work from the first second.
    short = decide([sample(0), sample(1, memory=95, in_flight=32)], 1.0, CONFIG, start)
    assert short.action == "pause"


def test_a_loop_stalled_once_a_second_is_over_only_for_the_stall() -> None:
    # A garbage collection stalls the loop 240 ms once a second, on time otherwise: over the
    # 100 ms limit at every reading, but for 340 ms of each second (the stall and the probe's
    # 100 ms wait before it).
    samples = series(0, 6, lag_ms=240, in_flight=8)
    decision = decide(samples, 6.0, CONFIG, Target(level=8, since=0.0))
    assert decision.loads["loop"].share == pytest.approx(0.34)
    assert decision.action == "up"
    assert not decision.target.paused
    # Over the limit for longer than the allowance (450 ms of each second): a step down.
    late = series(0, 6, lag_ms=240, over_ms=450, in_flight=8)
    assert decide(late, 6.0, CONFIG, Target(level=8, since=0.0)).action == "down"


def test_a_loop_late_at_every_firing_is_over_all_the_time_whatever_the_limit() -> None:
    # 60 ms late at every firing against a 50 ms limit: each firing covers 160 ms, all over.
    config = dataclasses.replace(CONFIG, max_loop_lag_ms=50.0)
    busy = Sample(
        at=1.0, cpu_percent=30.0, memory_percent=40.0, available_bytes=8 << 30, tree=None,
        loop_lag_seconds=0.06, loop_ticks=(LagTick(0.16, 0.06),) * 6,
    )  # fmt: skip
    assert loads([sample(0), busy], 0.0, 1.0, config)["loop"].share == pytest.approx(0.96)
    # The same firings under the limit count for nothing.
    assert loads([sample(0), busy], 0.0, 1.0, CONFIG)["loop"].share == 0.0


def test_a_short_spike_under_the_allowed_share_changes_nothing() -> None:
    samples = [*series(0, 8), sample(9, cpu=99), sample(10)]
    decision = decide(samples, 10.0, CONFIG, Target(level=8, since=0.0))
    assert decision.action == "hold"
    assert decision.target == Target(level=8, since=0.0)


def test_niced_cpu_does_not_cut_the_crawl() -> None:
    # 97 % busy, 40 points of it niced file workers: they yield to the crawl, whose 57 % is
    # what it competes with. The file gate holds them instead (tests/test_throttle_gate.py).
    samples = [*series(0, 2, in_flight=16), *series(3, 5, cpu=97, nice=40, in_flight=16)]
    decision = decide(samples, 5.0, CONFIG, Target(level=16, since=0.0))
    assert decision.loads["cpu"] == Load(0.0, "")
    assert decision.action != "down"
    assert not decision.target.paused
    # Un-niced CPU over the limit is an overload.
    busy = [*series(0, 2, in_flight=16), *series(3, 5, cpu=97, nice=10, in_flight=16)]
    decision = decide(busy, 5.0, CONFIG, Target(level=16, since=0.0))
    assert decision.loads["cpu"] == Load(0.75, "CPU 87% > 80%")  # (1, 5]: 3 of 4 s
    assert decision.target == Target(
        level=12, paused=True, since=5.0, ramping=False, ceiling=16, answered_before=16
    )


def test_one_memory_reading_over_the_limit_is_enough() -> None:
    samples = [*series(0, 9, in_flight=16), sample(10, free_mib=700, in_flight=16)]
    decision = decide(samples, 10.0, CONFIG, Target(level=16, since=0.0))
    assert decision.target == Target(
        level=12, paused=True, since=10.0, ramping=False, ceiling=16, answered_before=16
    )
    assert decision.reason == "free memory 700 MiB < 1024 MiB (11% of the time): level 16 -> 12"


def test_every_memory_limit_is_named() -> None:
    samples = [sample(0), sample(1, memory=91, free_mib=900, tree_mib=1500)]
    decision = decide(samples, 1.0, CONFIG, Target(level=16, since=-5.0))
    assert decision.loads["memory"].reason == (
        "memory 91% > 85%, free memory 900 MiB < 1024 MiB, crawl tree 1500 MiB > 1000 MiB"
    )


def test_event_loop_lag_and_rate_limits_are_overloads_too() -> None:
    # A loop 250 ms late at every firing is over the limit all the time.
    lagging = [*series(0, 2), *series(3, 6, lag_ms=250, over_ms=1000)]
    assert decide(lagging, 6.0, CONFIG, Target(level=8, since=0.0)).target.level == 6
    limited = [sample(t, responses=100 * t, limited=50 * t) for t in range(7)]
    decision = decide(limited, 6.0, CONFIG, Target(level=8, since=0.0))
    # The site refused half of the answers: the level loses half at once (more than the 25 % step).
    # No pause (the site holds its own slot for its Retry-After); the level holds at what the
    # site took, and 5 is probed in 60 s.
    assert decision.target == Target(
        level=4, since=6.0, ramping=False, ceiling=5, probe_at=66.0, answered_before=600
    )
    assert decision.reason == "250 of 500 responses 429/503 (100% of the time): level 8 -> 4"
    # Refused alone, the step is the refused share (12 % of 16: 2), not the 25 % step.
    few = [sample(t, responses=100 * t, limited=12 * t) for t in range(7)]
    assert decide(few, 6.0, CONFIG, Target(level=16, since=0.0)).target.level == 14


def test_refusals_on_an_overloaded_machine_take_the_larger_step() -> None:
    # CPU over the limit too: the 25 % step (4 of 16) beats the refused share (12 %: 2), the
    # ceiling is the level that was overloaded, and the site's limit is probed in 60 s.
    both = [sample(t, cpu=95, responses=100 * t, limited=12 * t, in_flight=16) for t in range(7)]
    decision = decide(both, 6.0, CONFIG, Target(level=16, since=0.0))
    assert decision.target == Target(
        level=12, paused=True, since=6.0, ramping=False, ceiling=16, probe_at=66.0, answered_before=616
    )
    # Half refused on an overloaded machine: the refused share (8 of 16) beats the 25 % step.
    half = [sample(t, cpu=95, responses=100 * t, limited=50 * t, in_flight=16) for t in range(7)]
    assert decide(half, 6.0, CONFIG, Target(level=16, since=0.0)).target.level == 8


def test_the_share_of_refused_answers() -> None:
    samples = [sample(0), sample(1, responses=40, limited=10), sample(2, responses=100, limited=10)]
    assert refused_share(samples, 0.0, 2.0) == 0.1  # 10 of 100
    assert refused_share(samples, 0.0, 1.0) == 0.25
    assert refused_share(samples, 1.0, 2.0) == 0.0
    assert refused_share([sample(0), sample(1, responses=0, limited=5)], 0.0, 1.0) == 1.0


def test_never_below_the_minimum_the_crawl_always_progresses() -> None:
    samples = series(0, 10, cpu=100, free_mib=10)
    decision = decide(samples, 10.0, CONFIG, Target(level=1, paused=True, since=0.0))
    assert decision.action == "hold"
    assert decision.target == Target(level=1, paused=True, since=0.0)
    assert limits_for(decision.target, CONFIG) == Limits(concurrency=1, browser_pages=1, file_workers=1)


def test_steps_are_a_share_of_the_level_and_at_least_one() -> None:
    config = ThrottleConfig(max_concurrency=16, start_concurrency=16, scale_down_step=0.5)
    hot = series(0, 10, cpu=100)
    assert decide(hot, 10.0, config, Target(level=16)).target.level == 8
    assert decide(hot, 10.0, config, Target(level=3)).target.level == 1  # 3 - ceil(1.5)
    assert decide(hot, 10.0, CONFIG, Target(level=2)).target.level == 1  # 2 - max(1, ceil(0.5))


# stepping up -----------------------------------------------------------------------------------


def test_clear_readings_and_a_busy_crawl_step_up() -> None:
    samples = series(0, 4, in_flight=8)
    decision = decide(samples, 4.0, CONFIG, Target(level=8, since=0.0, ramping=False))
    assert decision.action == "up"
    assert decision.target == Target(level=10, since=4.0, ramping=False, answered_before=8)
    assert decision.reason == "readings clear and 8 requests in flight: level 8 -> 10"


def test_until_the_first_overload_the_level_doubles_and_after_it_steps() -> None:
    config = ThrottleConfig(max_concurrency=32, start_concurrency=1, settle_seconds=3.0)
    target = Target(level=1, since=0.0)
    levels = []
    for now in (3.0, 6.0, 9.0):
        in_flight = target.level
        samples = series(0, int(now), in_flight=in_flight)
        decision = decide(samples, now, config, target)
        assert decision.action == "up"
        target = decision.target
        levels.append(target.level)
    assert levels == [2, 4, 8]
    assert decision.reason.endswith("level 4 -> 8 (doubling until the first overload)")
    # An overload steps down and ends the slow start: from then on, steps of 25 %.
    hot = series(9, 12, cpu=95, in_flight=8)
    target = decide(hot, 12.0, config, target).target
    assert (target.level, target.ramping) == (6, False)
    assert target.ceiling == 8


def test_after_an_overload_steps_up_stop_under_its_level_then_probe_it() -> None:
    config = ThrottleConfig(max_concurrency=32, start_concurrency=1, settle_seconds=3.0)
    # Overloaded at 16 before: steps up go at most half way to it, at least one.
    target = Target(level=8, since=0.0, ramping=False, ceiling=16)
    levels, reasons = [], []
    for now in (3.0, 6.0, 9.0, 12.0):
        decision = decide(series(int(now) - 3, int(now), in_flight=target.level), now, config, target)
        assert decision.action == "up"
        target = decision.target
        levels.append(target.level)
        reasons.append(decision.reason)
    # 8 + 2 = 10 (half way: 12); 10 + 3 = 13 -> 13; 13 + 4 = 17 -> 14 (half way); 14 -> 15; then 16.
    assert levels == [10, 13, 14, 15]
    assert reasons[2] == "readings clear and 13 requests in flight: level 13 -> 14 (overloaded at 16 last)"
    decision = decide(series(12, 15, in_flight=15), 15.0, config, target)
    target = decision.target
    assert target == Target(level=16, since=15.0, ramping=False, ceiling=16, answered_before=15)
    # The level held at the ceiling: it is cleared, steps are 25 % again.
    decision = decide(series(15, 18, in_flight=16), 18.0, config, target)
    assert decision.target == Target(level=20, since=18.0, ramping=False, ceiling=None, answered_before=16)
    # Had it not held, the step down from 16 remembers 16 again.
    hot = decide(series(15, 18, cpu=95, in_flight=16), 18.0, config, target)
    assert hot.target == Target(
        level=12, paused=True, since=18.0, ramping=False, ceiling=16, answered_before=16
    )


def test_a_crawl_that_does_not_use_its_concurrency_is_not_given_more() -> None:
    samples = series(0, 10, in_flight=5)  # 5 of 8 is under 90 %
    decision = decide(samples, 10.0, CONFIG, Target(level=8, since=0.0))
    assert decision.action == "hold"
    assert decision.target == Target(level=8, since=0.0)


def test_never_above_the_maximum() -> None:
    samples = series(0, 10, in_flight=16)
    assert decide(samples, 10.0, CONFIG, Target(level=16)).target == Target(level=16)
    assert decide(samples, 10.0, CONFIG, Target(level=15)).target == Target(
        level=16, since=10.0, answered_before=16
    )


def test_no_step_up_while_the_last_seconds_are_overloaded() -> None:
    # The span since the change is under the allowed share, but right now the CPU is over.
    samples = [*series(0, 7, in_flight=8), *series(8, 10, cpu=95, in_flight=8)]
    decision = decide(samples, 10.0, CONFIG, Target(level=8, since=0.0))
    assert decision.action == "pause"
    assert decision.target.level == 8


def test_without_two_readings_nothing_is_decided() -> None:
    decision = decide([sample(0)], 0.0, CONFIG, Target(level=16))
    assert decision.action == "hold"
    assert decision.reason == "waiting for readings"
    assert decision.target == Target(level=16)


# what the level means ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "expected"),
    [(16, Limits(16, 4, 2)), (8, Limits(8, 2, 1)), (5, Limits(5, 2, 1)), (1, Limits(1, 1, 1))],
)
def test_browser_pages_and_file_workers_follow_the_level(level: int, expected: Limits) -> None:
    assert limits_for(Target(level=level), CONFIG) == expected


# recycling ---------------------------------------------------------------------------------------


def test_contexts_are_recycled_after_n_pages() -> None:
    mark = RecycleMark(at=0.0, pages=20)
    assert recycle_reason(sample(5, pages=119), mark, CONFIG) is None
    assert recycle_reason(sample(5, pages=120), mark, CONFIG) == "100 pages since the last recycle"


def test_contexts_are_recycled_over_the_memory_budget_at_most_once_a_window() -> None:
    mark = RecycleMark(at=0.0, pages=0)
    assert (
        recycle_reason(sample(10, tree_mib=1200, pages=5), mark, CONFIG) == "crawl tree 1200 MiB > 1000 MiB"
    )
    assert recycle_reason(sample(9, tree_mib=1200, pages=5), mark, CONFIG) is None  # too soon
    assert recycle_reason(sample(10, tree_mib=1200, pages=0), mark, CONFIG) is None  # no page since
    assert recycle_reason(sample(10, tree_mib=900, pages=5), mark, CONFIG) is None


def test_a_level_refused_by_the_site_is_probed_again_only_after_a_while() -> None:
    config = dataclasses.replace(CONFIG, rate_probe_seconds=60.0)
    # Refused at 16 (20 % of answers): down to what the site took (16 - 4 = 12), no pause, and
    # 13 not tried before t = 66.
    refused = [sample(t, responses=100 * t, limited=20 * t, in_flight=16) for t in range(7)]
    target = decide(refused, 6.0, config, Target(level=16, since=0.0, ramping=False)).target
    assert target == Target(
        level=12, since=6.0, ramping=False, ceiling=13, probe_at=66.0, answered_before=616
    )
    levels = []
    for now in range(9, 63, 3):
        decision = decide(series(now - 3, now, in_flight=target.level), float(now), config, target)
        target = decision.target
        levels.append(target.level)
    # Held at 12 the whole time, although the crawl uses all of it and the readings are clear.
    assert set(levels) == {12}
    assert decision.action == "hold"
    assert decision.reason == "held under 13, refused there; probed in 6 s"
    # At t = 66 the next level up is probed; taken without refusals, the ceiling is cleared.
    decision = decide(series(63, 66, in_flight=12), 66.0, config, target)
    assert (decision.action, decision.target.level) == ("up", 13)
    decision = decide(series(66, 69, in_flight=13), 69.0, config, decision.target)
    # 13 + 25 % = 17, capped at the maximum (16).
    assert decision.target == Target(
        level=16, since=69.0, ramping=False, ceiling=None, probe_at=66.0, answered_before=13
    )


def test_a_site_refusing_one_over_its_limit_settles_one_under_it() -> None:
    # A site that takes 12 at once, the crawl at 13 after a first step down from 32: each
    # second 1 of 13 answers is refused. One level down, then held at 12 until the probe.
    config = dataclasses.replace(CONFIG, max_concurrency=32, rate_probe_seconds=60.0)
    over = [sample(t, responses=13 * t, limited=t, in_flight=13) for t in range(7)]
    decision = decide(over, 6.0, config, Target(level=13, since=0.0, ramping=False, ceiling=32))
    assert decision.target == Target(
        level=12, since=6.0, ramping=False, ceiling=13, probe_at=66.0, answered_before=91
    )
    later = decide(series(6, 9, in_flight=12), 9.0, config, decision.target)
    assert (later.action, later.target.level) == ("hold", 12)


def test_answers_in_the_first_reading_after_a_change_belong_to_the_old_level() -> None:
    # Stepped down from 32 to 15 at t = 3. The reading at t = 4 still holds 20 refusals of
    # requests sent at 32 (a 429 comes back fast); from then on the site takes 15 without one.
    config = dataclasses.replace(CONFIG, max_concurrency=32)
    counts = [(0, 0), (32, 20), (64, 40), (96, 60), (128, 80), (143, 80), (158, 80)]
    samples = [sample(t, responses=r, limited=n, in_flight=15) for t, (r, n) in enumerate(counts)]
    target = Target(level=15, since=3.0, ramping=False, ceiling=32, probe_at=63.0)
    decision = decide(samples, 6.0, config, target)
    # Judged on (4, 6], the new level's own answers: no step down, and no ceiling at 15 that
    # would hold the crawl at 14 for a minute. Not up either while the straddling reading is
    # within the last SETTLE_SECONDS.
    assert decision.action == "hold"
    assert decision.target == target
    samples.append(sample(7, responses=173, limited=80, in_flight=15))
    assert decide(samples, 7.0, config, target).target.level == 19  # 25 % up, under the probe
    # Nor once the window no longer starts at the change: at t = 13.5 it starts at 3.5, inside
    # the straddling reading (3, 4], which is still left out.
    held = Target(level=15, since=3.0, ramping=False, ceiling=16, probe_at=63.0)
    samples += [sample(t, responses=173 + 15 * (t - 7), limited=80, in_flight=14) for t in range(8, 14)]
    samples.append(sample(13.5, responses=270, limited=80, in_flight=14))
    assert decide(samples, 13.5, config, held).action == "hold"


def half_refused_a_second_after_a_change() -> list[Sample]:
    """100 answers a second, 8 requests in the downloader; in the sixth second half refused."""
    return [
        *[sample(t, responses=100 * t, in_flight=8) for t in range(6)],
        sample(6, responses=600, limited=50, in_flight=8),
    ]


def test_refusals_going_on_step_down_and_hold_but_never_pause() -> None:
    # The level changed a second ago (not settled) with 8 requests in the downloader, and the
    # site refuses half of the next 100 answers: some of them answer requests sent at the old
    # level, so they are not the new level's; held (no step up while refused), not paused — the
    # site holds its own slot for its Retry-After.
    samples = half_refused_a_second_after_a_change()
    changed = Target(level=8, since=5.0, ramping=False, answered_before=508)
    decision = decide(samples, 6.0, CONFIG, changed)
    assert decision.action == "hold"
    assert not decision.target.paused
    assert decision.reason == "50 of 100 responses 429/503 (33% of the time): the site holds its slot"


def test_refusals_of_a_levels_own_requests_step_down_before_it_settles() -> None:
    # The same second, had nothing been in the downloader at the change: all 100 answers are to
    # requests sent at 8, a level's worth of them, so half refused is the site's answer now.
    samples = half_refused_a_second_after_a_change()
    changed = Target(level=8, since=5.0, ramping=False, answered_before=500)
    decision = decide(samples, 6.0, CONFIG, changed)
    assert decision.action == "down"
    assert decision.target == Target(
        level=4, since=6.0, ramping=False, ceiling=5, probe_at=66.0, answered_before=608
    )


def test_a_crawl_started_over_a_sites_limit_steps_down_at_its_first_answers() -> None:
    # Started at 32 against a site that takes 12 at once; a reading is taken at the start and
    # on each refusal. At 0.05 s the 20 refusals are in (a 429 comes back fast), the 12 answers
    # taken are not: 20 answers are fewer than a level's worth, so nothing is judged yet.
    config = dataclasses.replace(CONFIG, max_concurrency=32, start_concurrency=32, rate_probe_seconds=60.0)
    start = Target(level=32, since=0.0)
    samples = [sample(0, in_flight=32), sample(0.05, responses=20, limited=20, in_flight=20)]
    assert decide(samples, 0.05, config, start).action == "hold"
    # At 0.15 s the 12 are in: 20 of 32 refused, so 12 at once, 2.85 s before the level would
    # have settled. Refused answers are retried, so 20 requests are in the downloader.
    samples.append(sample(0.15, responses=32, limited=20, in_flight=20))
    decision = decide(samples, 0.15, config, start)
    assert decision.action == "down"
    assert decision.reason == "20 of 32 responses 429/503 (33% of the time): level 32 -> 12"
    stepped = Target(level=12, since=0.15, ramping=False, ceiling=13, probe_at=60.15, answered_before=52)
    assert decision.target == stepped
    # Refusals of requests sent at 32 that come back after the change are not held against 12.
    samples.append(sample(0.4, responses=45, limited=28, in_flight=12))
    assert decide(samples, 0.4, config, stepped).target == stepped
