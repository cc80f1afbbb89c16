"""The file gate: how many file tasks may run at once, from the machine's CPU readings.

A pure decision: samples, ``now`` and the config in, a :class:`GateDecision` out. It closes by
one while the machine (niced CPU included) is over the limit, opens by one while it is under,
and never stays shut for long, so file work always progresses. docs/throttle.md ("Niced CPU
and the file gate") has the reasoning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from looqta.throttle.loads import intervals

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from looqta.throttle.config import ThrottleConfig
    from looqta.throttle.sampler import Sample


@dataclass(frozen=True)
class FileGate:
    tasks: int  #: file tasks that may run at once; 0 holds new file work
    since: float  #: when ``tasks`` last changed (the samples' clock)
    #: Opened by the "never shut for long" rule: not closed again before ``settle_seconds``.
    floor: bool = False


@dataclass(frozen=True)
class GateDecision:
    gate: FileGate
    action: str  #: "close", "open", "keep" or "follow" (the pool's size moved)
    reason: str


def mean_cpu(samples: Sequence[Sample], start: float, end: float) -> float | None:
    """All CPU (niced included), time-weighted over the readings taken in ``(start, end]``;
    ``samples`` in time order."""
    spans = intervals(samples, start, end)
    total = sum(current.at - previous.at for previous, current in spans)
    if total <= 0:
        return None
    return sum((current.at - previous.at) * current.cpu_percent for previous, current in spans) / total


def decide_gate(
    samples: Iterable[Sample],
    now: float,
    config: ThrottleConfig,
    current: FileGate,
    workers: int,
    running: int = 0,
) -> GateDecision:
    """The next :class:`FileGate` for a pool of ``workers`` with ``running`` tasks, from
    ``samples`` up to ``now``."""
    ordered = sorted((s for s in samples if s.at <= now), key=lambda s: s.at)
    tasks = min(current.tasks, workers)
    if not config.hold_file_tasks:
        return _follow(current, workers, now, "file tasks are not held (HOLD_FILE_TASKS off)")
    if not ordered:
        return _follow(current, tasks, now, "waiting for readings")
    latest = ordered[-1]
    limit = config.max_cpu_percent
    reading = f"CPU {latest.cpu_percent:.0f}% (niced {latest.nice_cpu_percent:.0f}%)"
    if latest.cpu_percent > limit:
        if current.floor and now - current.since < config.settle_seconds:
            return _follow(
                current, tasks, now, f"{reading} > {limit:g}%: 1 task at once, so file work progresses"
            )
        if tasks > 0 and running <= tasks:
            return GateDecision(
                FileGate(tasks - 1, now),
                "close",
                f"{reading} > {limit:g}%: file tasks at once {tasks} -> {tasks - 1}",
            )
        if tasks > 0:
            return _follow(current, tasks, now, f"{reading} > {limit:g}%: {running} tasks still running")
        if now - current.since >= config.window_seconds:
            return GateDecision(
                FileGate(1, now, floor=True),
                "open",
                f"file work held {now - current.since:.0f} s: 1 task at once, so it progresses",
            )
        return _follow(current, tasks, now, f"{reading} > {limit:g}%: file work held")
    if tasks >= workers:
        return _follow(current, tasks, now, "within limits")
    mean = mean_cpu(ordered, now - config.window_seconds, now)
    if mean is None:
        return _follow(
            current, tasks, now, f"{reading}: file tasks held at {tasks} until the window has a mean"
        )
    if mean >= limit:
        return _follow(
            current,
            tasks,
            now,
            f"{reading}, window mean {mean:.0f}% >= {limit:g}%: file tasks held at {tasks}",
        )
    return GateDecision(
        FileGate(tasks + 1, now),
        "open",
        f"{reading}, window mean {mean:.0f}% < {limit:g}%: file tasks at once {tasks} -> {tasks + 1}",
    )


def _follow(current: FileGate, tasks: int, now: float, reason: str) -> GateDecision:
    """``current`` unless ``tasks`` differs (the pool's size moved): then ``tasks`` from ``now``."""
    if tasks == current.tasks:
        return GateDecision(current, "keep", reason)
    return GateDecision(FileGate(tasks, now, floor=current.floor), "follow", f"the pool's size: {reason}")
