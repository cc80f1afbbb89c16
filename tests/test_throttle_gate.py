"""The file gate on synthetic timestamped samples: exact answers, no clock, no sleeping."""

from __future__ import annotations

import dataclasses

from looqta.throttle.gate import FileGate, decide_gate, mean_cpu
from tests.test_throttle_decide import CONFIG, sample, series


def test_a_reading_over_the_limit_closes_the_gate_by_one_task() -> None:
    samples = [*series(0, 4, cpu=60), sample(5, cpu=95, nice=40)]
    decision = decide_gate(samples, 5.0, CONFIG, FileGate(tasks=2, since=0.0), workers=2)
    assert decision.gate == FileGate(tasks=1, since=5.0)
    assert decision.action == "close"
    assert decision.reason == "CPU 95% (niced 40%) > 80%: file tasks at once 2 -> 1"
    # Still over a second later, and the close has taken effect (1 task running): closed to 0.
    samples.append(sample(6, cpu=92, nice=30))
    decision = decide_gate(samples, 6.0, CONFIG, decision.gate, workers=2, running=1)
    assert decision.gate == FileGate(tasks=0, since=6.0)
    # Over again at 0: kept, held.
    samples.append(sample(7, cpu=85, nice=5))
    decision = decide_gate(samples, 7.0, CONFIG, decision.gate, workers=2)
    assert (decision.gate, decision.action) == (FileGate(tasks=0, since=6.0), "keep")
    assert decision.reason == "CPU 85% (niced 5%) > 80%: file work held"


def test_the_gate_opens_while_the_window_mean_is_under_the_limit() -> None:
    # 70 %, one second at 95 %, then 50 %: the mean of (1, 11] is 70.5 %, under 80 %.
    samples = [*series(0, 9, cpu=70), sample(10, cpu=95), sample(11, cpu=50)]
    assert mean_cpu(samples, 1.0, 11.0) == (8 * 70 + 95 + 50) / 10
    decision = decide_gate(samples, 11.0, CONFIG, FileGate(tasks=0, since=10.0), workers=2)
    assert decision.gate == FileGate(tasks=1, since=11.0)
    assert decision.action == "open"
    assert decision.reason == "CPU 50% (niced 0%), window mean 70% < 80%: file tasks at once 0 -> 1"
    # Never past the pool's size.
    decision = decide_gate(samples, 11.0, CONFIG, FileGate(tasks=2, since=3.0), workers=2)
    assert (decision.gate, decision.action) == (FileGate(tasks=2, since=3.0), "keep")


def test_a_hot_window_keeps_the_gate_shut_though_the_latest_reading_is_under() -> None:
    # The mean of (1, 11] is (9 * 95 + 60) / 10 = 91.5 %: the file work has had its share.
    samples = [*series(0, 10, cpu=95, nice=30), sample(11, cpu=60)]
    decision = decide_gate(samples, 11.0, CONFIG, FileGate(tasks=0, since=8.0), workers=2)
    assert (decision.gate, decision.action) == (FileGate(tasks=0, since=8.0), "keep")
    assert decision.reason == "CPU 60% (niced 0%), window mean 92% >= 80%: file tasks held at 0"


def test_a_gate_shut_for_a_window_lets_one_task_through() -> None:
    samples = series(0, 20, cpu=95)
    shut = FileGate(tasks=0, since=10.0)
    assert decide_gate(samples, 19.0, CONFIG, shut, workers=2).gate == shut
    decision = decide_gate(samples, 20.0, CONFIG, shut, workers=2)
    assert decision.gate == FileGate(tasks=1, since=20.0, floor=True)
    assert decision.reason == "file work held 10 s: 1 task at once, so it progresses"
    # It stays open for settle_seconds (3 s) however hot the machine is, then closes again.
    samples = series(0, 24, cpu=95)
    gate = decision.gate
    for now in (21.0, 22.0):
        gate = decide_gate(samples, now, CONFIG, gate, workers=2, running=1).gate
        assert gate == FileGate(tasks=1, since=20.0, floor=True)
    gate = decide_gate(samples, 23.0, CONFIG, gate, workers=2, running=1).gate
    assert gate == FileGate(tasks=0, since=23.0)


def test_a_close_waits_for_the_previous_one_to_take_effect() -> None:
    # Closed to 1 at t = 5, but 2 long tasks still run at t = 6: no second close yet.
    samples = [*series(0, 4, cpu=60), *series(5, 7, cpu=95, nice=40)]
    gate = FileGate(tasks=1, since=5.0)
    decision = decide_gate(samples, 6.0, CONFIG, gate, workers=2, running=2)
    assert (decision.gate, decision.action) == (gate, "keep")
    assert decision.reason == "CPU 95% (niced 40%) > 80%: 2 tasks still running"
    # One of them ended: the next hot reading closes on.
    decision = decide_gate(samples, 7.0, CONFIG, gate, workers=2, running=1)
    assert decision.gate == FileGate(tasks=0, since=7.0)


def test_the_gate_follows_the_pool_size_down() -> None:
    samples = series(0, 5, cpu=50)
    # The pool went from 2 workers to 1 while the gate allowed 2: 1 from now.
    decision = decide_gate(samples, 5.0, CONFIG, FileGate(tasks=2, since=0.0), workers=1)
    assert decision.gate == FileGate(tasks=1, since=5.0)


def test_turned_off_the_gate_is_the_pool_size() -> None:
    off = dataclasses.replace(CONFIG, hold_file_tasks=False)
    samples = series(0, 5, cpu=99, nice=60)
    decision = decide_gate(samples, 5.0, off, FileGate(tasks=1, since=0.0), workers=2)
    assert decision.gate == FileGate(tasks=2, since=5.0)
    assert decide_gate(samples, 6.0, off, decision.gate, workers=2).gate == decision.gate


def test_without_readings_nothing_changes() -> None:
    gate = FileGate(tasks=2, since=0.0)
    assert decide_gate([], 1.0, CONFIG, gate, workers=2).gate == gate
    # One reading: no window mean yet, so a gate at 0 stays shut.
    assert decide_gate([sample(1, cpu=10)], 1.0, CONFIG, FileGate(0, 0.5), workers=2).gate == FileGate(0, 0.5)
