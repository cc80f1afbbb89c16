"""Decide: the next concurrency :class:`Target`, from timestamped samples, as named rules.

Pure: samples, ``now`` and the config come in, a :class:`Decision` comes out; nothing reads a
clock, psutil or Scrapy. :func:`decide` reads as its rules: step down when the level is
overloaded (:func:`machine_overloaded`, :func:`site_refusing`), step up when there is
:func:`room_to_grow`, pause new work while the machine is overloaded now. A new rule is a
predicate here and its use in :func:`decide`. docs/throttle.md ("Decide") says why each rule is
as it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, NamedTuple

from looqta.throttle.loads import Load, answered, busy, explain, loads, overloaded, rate_load, refused_share

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from looqta.throttle.config import ThrottleConfig
    from looqta.throttle.sampler import Sample


@dataclass(frozen=True)
class Target:
    """The throttle's state: the concurrency level, whether new work is paused, since when."""

    level: int
    paused: bool = False
    since: float = 0.0  #: when ``level`` last changed or new work resumed (the samples' clock)
    #: No overload seen yet: steps up double the level (slow start).
    ramping: bool = True
    #: The level the last step down was from: steps up stop under it, then probe it by one.
    ceiling: int | None = None
    #: Steps up reach ``ceiling`` only from this time on (set after 429/503 answers).
    probe_at: float = 0.0
    #: Answers counted (``Sample.responses``) once every request in the downloader at the last
    #: change has been answered: the answers after it are the site's answers to ``level``.
    answered_before: int = 0


@dataclass(frozen=True)
class Limits:
    """What the actor applies."""

    concurrency: int  #: the downloader's total, and each slot's cap (under the slot's own)
    browser_pages: int  #: rendered pages open at once
    file_workers: int


@dataclass(frozen=True)
class Decision:
    target: Target
    action: str  #: "up", "down", "pause", "resume" or "hold"
    reason: str
    loads: dict[str, Load]  #: of the span judged


class Judged(NamedTuple):
    """One check's view of the readings: the spans judged and their loads."""

    samples: Sequence[Sample]  #: in time order, up to ``now``
    now: float
    recent: dict[str, Load]  #: the last ``settle_seconds``: what is overloaded now
    judged: dict[str, Load]  #: since the level last changed; empty while it has not settled
    judged_start: float
    rate_start: float  #: where the site's answers to the level begin
    settled: bool
    answered_before: int  #: answers once every request in the downloader now is answered


# what one check sees ---------------------------------------------------------------------------


def fresh_from(samples: Sequence[Sample], current: Target, now: float) -> float:
    """When the answers to requests sent at ``current.level`` begin: the first reading at or
    after the last change by which every request in the downloader then was answered (``now``
    when none is yet)."""
    return next(
        (s.at for s in samples if s.at >= current.since and s.responses >= current.answered_before), now
    )


def judge(samples: Iterable[Sample], now: float, config: ThrottleConfig, current: Target) -> Judged | None:
    """The spans one check judges; None before two readings cover any time."""
    ordered = sorted((s for s in samples if s.at <= now), key=lambda s: s.at)
    # The last settle_seconds, however few readings cover them: the crawl's first reading (its
    # start-up) weighs no more than its share of them.
    recent = loads(ordered, now - config.settle_seconds, now, config, at_least=config.settle_seconds)
    if not recent:
        return None
    latest = ordered[-1]
    settled = now - current.since >= config.settle_seconds
    # The first reading after a change holds answers to the old level: left out.
    first_after = next((s.at for s in ordered if s.at > current.since), current.since)
    judged_start = max(now - config.window_seconds, first_after)
    judged = loads(ordered, judged_start, now, config) if settled else {}
    fresh_at = fresh_from(ordered, current, now)
    rate_start = max(judged_start, fresh_at)
    if judged:
        judged["rate"] = rate_load(ordered, rate_start, now, config)
    elif site_answered_the_level(ordered, fresh_at, now, current.level):
        rate_start = fresh_at
        judged = {"rate": rate_load(ordered, rate_start, now, config)}
    answered_before = latest.responses + latest.in_flight
    return Judged(ordered, now, recent, judged, judged_start, rate_start, settled, answered_before)


# the rules' predicates -------------------------------------------------------------------------


def site_answered_the_level(samples: Sequence[Sample], fresh_at: float, now: float, level: int) -> bool:
    """The site answered a level's worth of requests sent at it: its refusals are judged before
    the level settles (each one costs a Retry-After stall of its slot)."""
    return answered(samples, fresh_at, now) >= level


def overloaded_at_level(seen: Judged, config: ThrottleConfig) -> list[str]:
    """The resources overloaded since the level last changed (refusals included)."""
    return overloaded(seen.judged, config)


def overloaded_now(seen: Judged, config: ThrottleConfig) -> list[str]:
    """The resources overloaded over the last ``settle_seconds`` (refusals included)."""
    return overloaded(seen.recent, config)


def machine_overloaded(seen: Judged, config: ThrottleConfig) -> list[str]:
    """The machine's resources overloaded now: what pauses new work (refusals are one site's)."""
    return [resource for resource in overloaded_now(seen, config) if resource != "rate"]


def site_refusing(hot: Sequence[str]) -> bool:
    """The site refused enough of the level's requests (429/503)."""
    return "rate" in hot


def site_only(hot: Sequence[str]) -> bool:
    """Only the site is overloaded: the machine is fine."""
    return list(hot) == ["rate"]


def can_step_down(hot: Sequence[str], current: Target, config: ThrottleConfig) -> bool:
    return bool(hot) and current.level > config.min_concurrency


def room_to_grow(seen: Judged, hot: Sequence[str], current: Target, config: ThrottleConfig) -> bool:
    """The level settled clear, nothing is overloaded now, and the crawl used its concurrency."""
    return (
        seen.settled
        and bool(seen.judged)
        and not hot
        and not overloaded_now(seen, config)
        and current.level < config.max_concurrency
        and busy(seen.samples, seen.judged_start, seen.now, current.level)
    )


def probe_pending(current: Target, now: float) -> bool:
    """A site's limit: steps up stay one under its ceiling until the probe time."""
    return now < current.probe_at


# the steps -------------------------------------------------------------------------------------


def step(level: int, fraction: float) -> int:
    return max(1, math.ceil(level * fraction))


def step_down(seen: Judged, hot: list[str], current: Target, config: ThrottleConfig) -> Decision:
    """Down by the refused share (the site took the rest) or ``scale_down_step``, the larger."""
    level, now = current.level, seen.now
    refused = site_refusing(hot)
    cut = step(level, refused_share(seen.samples, seen.rate_start, now)) if refused else 0
    if not site_only(hot):
        cut = max(cut, step(level, config.scale_down_step))
    new = max(config.min_concurrency, level - cut)
    # After the site alone, the level holds one under where it was refused until the probe;
    # a machine's limit moves with its load and is probed as soon as clear.
    ceiling = new + 1 if site_only(hot) else level
    probe_at = now + config.rate_probe_seconds if refused else 0.0
    target = Target(
        new,
        paused=bool(machine_overloaded(seen, config)),
        since=now,
        ramping=False,
        ceiling=ceiling,
        probe_at=probe_at,
        answered_before=seen.answered_before,
    )
    return Decision(target, "down", f"{explain(hot, seen.judged)}: level {level} -> {new}", seen.judged)


def level_up(current: Target, config: ThrottleConfig, now: float) -> tuple[int, int | None, str]:
    """``(level, ceiling, note)`` of a step up: doubling while ramping, else ``scale_up_step``;
    half way to a ceiling at most, one under it while a probe is pending."""
    level, ceiling = current.level, current.ceiling
    grow = level if current.ramping else step(level, config.scale_up_step)
    new = min(config.max_concurrency, level + grow)
    note = " (doubling until the first overload)" if current.ramping else ""
    if ceiling is None or level >= ceiling:
        return new, None, note  # held at (or never stepped down from) it: the ceiling clears
    new = min(new, max(level + 1, (level + ceiling) // 2))
    note = f" (overloaded at {ceiling} last)"
    if probe_pending(current, now):
        new = min(new, ceiling - 1)
        note = f" (refused at {ceiling} last; probed again in {current.probe_at - now:.0f} s)"
    return new, ceiling, note


def step_up(seen: Judged, current: Target, new: int, ceiling: int | None, note: str) -> Decision:
    level = current.level
    reason = f"readings clear and {level} requests in flight: level {level} -> {new}{note}"
    target = Target(
        new,
        since=seen.now,
        ramping=current.ramping,
        ceiling=ceiling,
        probe_at=current.probe_at,
        answered_before=seen.answered_before,
    )
    return Decision(target, "up", reason, seen.judged)


def hold(seen: Judged, current: Target, config: ThrottleConfig, *, held_under: bool) -> Decision:
    """No step: pause or resume new work with the machine's load now, or hold."""
    stopping = machine_overloaded(seen, config)
    recent, level = seen.recent, current.level
    if stopping and not current.paused:
        reason = f"{explain(stopping, recent)}: new work held at the minimum"
        return Decision(replace(current, paused=True), "pause", reason, recent)
    if current.paused and not stopping:
        # The level is judged afresh: readings taken at the minimum say nothing of it.
        resumed = replace(current, paused=False, since=seen.now, answered_before=seen.answered_before)
        return Decision(resumed, "resume", f"readings clear: level {level}", recent)
    if stopping:
        return Decision(current, "hold", f"{explain(stopping, recent)}: at the minimum", recent)
    hot_now = overloaded_now(seen, config)
    if hot_now:
        return Decision(current, "hold", f"{explain(hot_now, recent)}: the site holds its slot", recent)
    if held_under:
        wait = current.probe_at - seen.now
        reason = f"held under {current.ceiling}, refused there; probed in {wait:.0f} s"
        return Decision(current, "hold", reason, seen.judged)
    return Decision(current, "hold", "within limits", seen.judged or recent)


# the rules -------------------------------------------------------------------------------------


def decide(samples: Iterable[Sample], now: float, config: ThrottleConfig, current: Target) -> Decision:
    """The next :class:`Target`, from ``samples`` up to ``now`` and the ``current`` target.

    ``current`` is an argument (not read back from the samples) because the level is the
    throttle's own state: while paused the crawl runs at its minimums, but resumes at the level.
    """
    seen = judge(samples, now, config, current)
    if seen is None:
        return Decision(current, "hold", "waiting for readings", {})
    hot = overloaded_at_level(seen, config)
    if can_step_down(hot, current, config):
        return step_down(seen, hot, current, config)
    held_under = False  # a step up stopped one under a level the site refused
    if room_to_grow(seen, hot, current, config):
        new, ceiling, note = level_up(current, config, now)
        if new > current.level:
            return step_up(seen, current, new, ceiling, note)
        held_under = True
    return hold(seen, current, config, held_under=held_under)


def scaled(level: int, config: ThrottleConfig, maximum: int) -> int:
    """``maximum`` scaled by ``level`` over ``max_concurrency``, within ``1..maximum``."""
    return max(1, min(maximum, math.ceil(maximum * level / config.max_concurrency)))


def limits_for(target: Target, config: ThrottleConfig) -> Limits:
    """What to apply for ``target``: its level, or the minimums while paused."""
    level = config.min_concurrency if target.paused else target.level
    return Limits(
        concurrency=level,
        browser_pages=scaled(level, config, config.max_browser_pages),
        file_workers=scaled(level, config, config.max_file_workers),
    )
