"""Decide: pure functions from timestamped samples to a concurrency target.

Nothing here reads a clock, psutil or Scrapy: samples, ``now`` and the config come in, a
:class:`Decision` comes out, so a test builds samples and asserts the exact answer.

The judgement follows crawlee's SystemStatus: a resource is *overloaded* over a span when the
share of the span's time its readings were over their limit passes ``overloaded_share`` (memory
and 429/503 refusals have no allowance: any reading over counts, :data:`NO_ALLOWANCE`). Each
reading covers the time since the previous one; for the event loop, only the time covered by
the lag probe's firings later than the limit counts (:func:`loop_over_seconds`): a garbage
collection that stalls the loop 200 ms once is 0.3 s of a second over (the stall and the
probe's 100 ms wait before it), not the whole second, while a loop late at every firing is over
all of it.

* **Pause** (crawlee's "do not start new tasks"): when the last ``settle_seconds`` are overloaded
  (as shares of ``settle_seconds`` while fewer readings cover them: the crawl's first reading is
  its start-up, not its level), the crawl runs at its minimums until they clear; the level is
  kept for the resume, and is judged afresh from the resume on (readings taken at the minimum
  say nothing of the level).
  429/503 answers step down but do not pause: they are one site's trouble, not the machine's.
  A 429, or a 503 with Retry-After, holds that site's download slot for the time asked
  (:mod:`looqta.middlewares.retry_after`); a plain 503 is retried by Scrapy's RetryMiddleware.
  The other sites' work need not stop.
* **Step down** by ``scale_down_step`` of the level (at least 1) when the span since the level
  last changed (at most one window, at least ``settle_seconds``) was overloaded. Judging only
  the readings taken since the last change means one overload is not punished twice; the first
  reading after a change is left out, as answers to requests sent at the old level land in it.
  When the overload is 429/503 answers alone, the step is the share of answers refused over the span
  (all the crawl's answers, pages and files alike), at least 1: the site took the rest, so a
  crawl a third of whose requests were refused gets a third less at once, and one refusal in
  thirteen costs one level, not a quarter of them. With the machine overloaded too, the step is
  the larger of the two.
* **Refusals are the level's own answers.** They are counted from the reading by which every
  request in the downloader at the last change was answered (``Target.answered_before``), and
  they need not wait for the level to settle: once the site has answered a level's worth of
  requests sent at it, the share it refused is its answer, and every refusal until the step
  costs a Retry-After stall of its slot. (The extension takes a reading soon after each 429/503
  instead of waiting for its next tick.)
* **Step up** by ``scale_up_step`` when that span was clear, nothing is overloaded now, and the
  crawl used its concurrency (requests in flight averaged at least :data:`BUSY_SHARE` of it):
  a crawl that cannot use more concurrency is not given more. Until the first overload the
  level doubles instead (a slow start, as TCP's): a crawl started low reaches its sweet spot
  in a few settle periods rather than a few dozen.
* **Ceiling**: a step down remembers the level that was overloaded. Steps up go at most half
  way to it (at least one), so the level closes in on the limit by halving the gap instead of
  overrunning it every few seconds; a level that reaches it and holds clears the ceiling. A
  ceiling set by 429/503 answers is a site's limit, which does not move with the machine's
  load: the level stops one under it and probes it again only ``rate_probe_seconds`` later
  (each probe costs refused requests and a Retry-After stall). After refusals alone the ceiling
  is one over the level the site took, so the level holds there until the probe.

The level never leaves ``min_concurrency..max_concurrency``; browser pages and file workers
follow it in proportion (:func:`limits_for`), never under 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from itertools import pairwise
from typing import TYPE_CHECKING

from looqta.throttle.config import MIB

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from looqta.throttle.config import ThrottleConfig
    from looqta.throttle.sampler import Sample

#: The resources judged, in the order reasons name them.
RESOURCES: tuple[str, ...] = ("memory", "cpu", "loop", "rate")
#: Overloaded over a span by any reading over the limit: memory (running out is not a
#: slowdown but a crash) and refusals (the site says so plainly, and each one costs a
#: Retry-After stall of its slot).
NO_ALLOWANCE: frozenset[str] = frozenset({"memory", "rate"})
#: The crawl is using its concurrency when requests in flight average this share of it.
BUSY_SHARE = 0.9


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
class Load:
    share: float  #: of the span's time the resource was over its limit, 0..1
    reason: str  #: the latest reading over the limit; "" when none was


@dataclass(frozen=True)
class Decision:
    target: Target
    action: str  #: "up", "down", "pause", "resume" or "hold"
    reason: str
    loads: dict[str, Load]  #: of the span judged


def cpu_load(sample: Sample) -> float:
    """The CPU reading the crawl's level is judged on: without niced processes' share.

    Niced work (the file workers) gives the CPU up to the crawl, so cutting the crawl for it
    would slow the crawl and not the work; the file gate (:mod:`looqta.throttle.gate`) holds
    the file work to the machine's limit instead.
    """
    return max(0.0, sample.cpu_percent - sample.nice_cpu_percent)


def overloads(previous: Sample, current: Sample, config: ThrottleConfig) -> dict[str, str]:
    """The resources over their limit in the interval ending at ``current``, with the reading."""
    found: dict[str, str] = {}
    memory: list[str] = []
    if current.memory_percent > config.max_memory_percent:
        memory.append(f"memory {current.memory_percent:.0f}% > {config.max_memory_percent:g}%")
    if current.available_bytes < config.min_free_memory_bytes:
        memory.append(
            f"free memory {current.available_bytes / MIB:.0f} MiB < {config.min_free_memory_mib:g} MiB"
        )
    budget = config.max_tree_memory_bytes
    tree = current.tree_bytes
    if budget is not None and tree is not None and tree > budget:
        memory.append(f"crawl tree {tree / MIB:.0f} MiB > {config.max_tree_memory_mib:g} MiB")
    if memory:
        found["memory"] = ", ".join(memory)
    cpu = cpu_load(current)
    if cpu > config.max_cpu_percent:
        found["cpu"] = f"CPU {cpu:.0f}% > {config.max_cpu_percent:g}%"
    lag_ms = current.loop_lag_seconds * 1000
    if lag_ms > config.max_loop_lag_ms:
        found["loop"] = f"event-loop lag {lag_ms:.0f} ms > {config.max_loop_lag_ms:g} ms"
    answered = current.responses - previous.responses
    limited = current.rate_limited - previous.rate_limited
    if limited > 0 and limited * 100 > config.max_rate_limited_percent * max(answered, limited):
        found["rate"] = f"{limited} of {max(answered, limited)} responses 429/503"
    return found


def loop_over_seconds(sample: Sample, config: ThrottleConfig) -> float:
    """How long the event loop was over its lag limit in the interval ending at ``sample``: the
    time covered by the lag probe's firings that came later than ``max_loop_lag_ms``."""
    limit = config.max_loop_lag_ms / 1000
    return sum(tick.span_seconds for tick in sample.loop_ticks if tick.late_seconds > limit)


def overloaded_seconds(resource: str, previous: Sample, current: Sample, config: ThrottleConfig) -> float:
    """The time of the interval ending at ``current`` that counts as ``resource`` over its limit
    (when its reading was): all of it, but for the event loop only its firings over the limit."""
    span = current.at - previous.at
    if resource == "loop":
        return min(span, loop_over_seconds(current, config))
    return span


def intervals(samples: Sequence[Sample], start: float, end: float) -> list[tuple[Sample, Sample]]:
    """The ``(previous, current)`` pairs of ``samples`` (in time order) whose reading, the later
    sample, was taken in ``(start, end]``: each covers the time since the previous one."""
    return [(previous, current) for previous, current in pairwise(samples) if start < current.at <= end]


def loads(
    samples: Sequence[Sample], start: float, end: float, config: ThrottleConfig, *, at_least: float = 0.0
) -> dict[str, Load]:
    """Each resource's overloaded share of ``(start, end]``; empty when no interval ends there.

    ``samples`` must be in time order. An interval belongs to the span when its reading (the
    later sample) was taken in it. Shares are of the time the readings cover, or of
    ``at_least`` seconds when they cover less (the crawl's first seconds).
    """
    spans = intervals(samples, start, end)
    total = sum(current.at - previous.at for previous, current in spans)
    if total <= 0:
        return {}
    total = max(total, at_least)
    over = dict.fromkeys(RESOURCES, 0.0)
    reasons = dict.fromkeys(RESOURCES, "")
    for previous, current in spans:
        for resource, reason in overloads(previous, current, config).items():
            over[resource] += overloaded_seconds(resource, previous, current, config)
            reasons[resource] = reason
    return {resource: Load(over[resource] / total, reasons[resource]) for resource in RESOURCES}


def overloaded(judged: dict[str, Load], config: ThrottleConfig) -> list[str]:
    """The resources overloaded over a judged span, in :data:`RESOURCES` order."""
    return [
        resource
        for resource, load in judged.items()
        if load.share > (0.0 if resource in NO_ALLOWANCE else config.overloaded_share)
    ]


def explain(resources: Iterable[str], judged: dict[str, Load]) -> str:
    return "; ".join(f"{judged[r].reason} ({judged[r].share:.0%} of the time)" for r in resources)


def step(level: int, fraction: float) -> int:
    return max(1, math.ceil(level * fraction))


def refusals(samples: Sequence[Sample], start: float, end: float) -> tuple[int, int]:
    """``(refused, answered)``: the 429/503 answers counted in the readings taken in
    ``(start, end]``, and all answers (at least the refused ones)."""
    spans = intervals(samples, start, end)
    limited = sum(current.rate_limited - previous.rate_limited for previous, current in spans)
    total = sum(current.responses - previous.responses for previous, current in spans)
    return limited, max(total, limited)


def refused_share(samples: Sequence[Sample], start: float, end: float) -> float:
    """The share of answers in ``(start, end]`` that were 429/503, 0..1."""
    limited, total = refusals(samples, start, end)
    return limited / total if limited > 0 else 0.0


def answered(samples: Sequence[Sample], start: float, end: float) -> int:
    """The answers counted in the readings taken in ``(start, end]``."""
    return sum(current.responses - previous.responses for previous, current in intervals(samples, start, end))


def rate_load(samples: Sequence[Sample], start: float, end: float, config: ThrottleConfig) -> Load:
    """The refusals' load over ``(start, end]``, named by their count over the whole span (the
    step down is their share of it)."""
    share = loads(samples, start, end, config).get("rate", Load(0.0, "")).share
    if not share:
        return Load(0.0, "")
    limited, total = refusals(samples, start, end)
    return Load(share, f"{limited} of {total} responses 429/503")


def fresh_from(samples: Sequence[Sample], current: Target, now: float) -> float:
    """When the answers to requests sent at ``current.level`` begin: the first reading at or
    after the last change by which every request in the downloader then was answered (``now``
    when none is yet)."""
    return next(
        (s.at for s in samples if s.at >= current.since and s.responses >= current.answered_before), now
    )


def busy(samples: Sequence[Sample], start: float, end: float, concurrency: int) -> bool:
    """Whether requests in flight averaged at least :data:`BUSY_SHARE` of ``concurrency``."""
    in_flight = [sample.in_flight for sample in samples if start < sample.at <= end]
    return bool(in_flight) and sum(in_flight) >= BUSY_SHARE * concurrency * len(in_flight)


def decide(samples: Iterable[Sample], now: float, config: ThrottleConfig, current: Target) -> Decision:
    """The next :class:`Target`, from ``samples`` up to ``now`` and the ``current`` target.

    ``current`` is an argument (not read back from the samples) because the level is the
    throttle's own state: while paused the crawl runs at its minimums, but resumes at the level.
    """
    ordered = sorted((s for s in samples if s.at <= now), key=lambda s: s.at)
    # The last settle_seconds, however few readings cover them yet: the crawl's first reading
    # (its start-up: the browser's launch, the first requests built) weighs no more than its
    # share of them, so a start-up stall alone does not hold the crawl at its minimum.
    recent = loads(ordered, now - config.settle_seconds, now, config, at_least=config.settle_seconds)
    if not recent:
        return Decision(current, "hold", "waiting for readings", {})
    hot_now = overloaded(recent, config)
    level = current.level
    latest = ordered[-1]
    # Requests in the downloader now were sent at the level before any change made now.
    answered_before = latest.responses + latest.in_flight
    settled = now - current.since >= config.settle_seconds
    # The first reading after a change straddles it: answers to requests sent at the old level
    # (429s above all, which come back fast) land in it, and would be held against the new
    # level (a spurious refusal there sets a ceiling that holds for a minute).
    first_after = next((s.at for s in ordered if s.at > current.since), current.since)
    judged_start = max(now - config.window_seconds, first_after)
    judged = loads(ordered, judged_start, now, config) if settled else {}
    # Refusals are judged on the site's answers to requests sent at the level: the answers to
    # requests still in the downloader at the change came from the old level.
    fresh_at = fresh_from(ordered, current, now)
    rate_start = max(judged_start, fresh_at)
    if judged:
        judged["rate"] = rate_load(ordered, rate_start, now, config)
    elif answered(ordered, fresh_at, now) >= level:
        # Nor need they wait for the level to settle: once the site has answered a level's
        # worth of requests sent at it, the share it refused is its answer. Every refusal
        # costs a Retry-After stall of its slot, so the sooner the better.
        rate_start = fresh_at
        judged = {"rate": rate_load(ordered, rate_start, now, config)}
    hot = overloaded(judged, config)

    stopping = [resource for resource in hot_now if resource != "rate"]  # what pauses new work
    if hot and level > config.min_concurrency:
        refused = "rate" in hot
        site_only = hot == ["rate"]
        # Only the site refused: it answered (1 - share) of what this level sent, so that many
        # is what it takes (a site capping requests at once or per second alike); one refusal in
        # thirteen costs one level, not a quarter of them. With the machine overloaded too, the
        # larger step wins.
        cut = step(level, refused_share(ordered, rate_start, now)) if refused else 0
        if not site_only:
            cut = max(cut, step(level, config.scale_down_step))
        new = max(config.min_concurrency, level - cut)
        # After the site alone, the level holds where it is until the probe: each probe past a
        # site's limit costs refusals and a Retry-After stall of its slot.
        ceiling = new + 1 if site_only else level
        # A machine's limit moves with its load: probed as soon as clear; a site's, much later.
        probe_at = now + config.rate_probe_seconds if refused else 0.0
        reason = f"{explain(hot, judged)}: level {level} -> {new}"
        target = Target(
            new,
            paused=bool(stopping),
            since=now,
            ramping=False,
            ceiling=ceiling,
            probe_at=probe_at,
            answered_before=answered_before,
        )
        return Decision(target, "down", reason, judged)
    unpaused = limits_for(replace(current, paused=False), config)
    held_under = False  # a step up stopped one under a level the site refused
    if (
        settled
        and judged
        and not hot
        and not hot_now
        and level < config.max_concurrency
        and busy(ordered, judged_start, now, unpaused.concurrency)
    ):
        grow = level if current.ramping else step(level, config.scale_up_step)
        new = min(config.max_concurrency, level + grow)
        ceiling = current.ceiling
        note = " (doubling until the first overload)" if current.ramping else ""
        if ceiling is not None and level < ceiling:
            new = min(new, max(level + 1, (level + ceiling) // 2))
            note = f" (overloaded at {ceiling} last)"
            if now < current.probe_at:  # a site's limit: one under it until the probe
                new = min(new, ceiling - 1)
                note = f" (refused at {ceiling} last; probed again in {current.probe_at - now:.0f} s)"
                held_under = new == level
        else:
            ceiling = None  # the level held at (or was never stepped down from) it
        if new > level:
            reason = (
                f"readings clear and {unpaused.concurrency} requests in flight: level {level} -> {new}{note}"
            )
            target = Target(
                new,
                since=now,
                ramping=current.ramping,
                ceiling=ceiling,
                probe_at=current.probe_at,
                answered_before=answered_before,
            )
            return Decision(target, "up", reason, judged)
    if stopping and not current.paused:
        reason = f"{explain(stopping, recent)}: new work held at the minimum"
        return Decision(replace(current, paused=True), "pause", reason, recent)
    if current.paused and not stopping:
        # The level is judged afresh: readings taken at the minimum say nothing of it.
        resumed = replace(current, paused=False, since=now, answered_before=answered_before)
        return Decision(resumed, "resume", f"readings clear: level {level}", recent)
    if stopping:
        return Decision(current, "hold", f"{explain(stopping, recent)}: at the minimum", recent)
    if hot_now:
        return Decision(current, "hold", f"{explain(hot_now, recent)}: the site holds its slot", recent)
    if held_under:
        wait = current.probe_at - now
        return Decision(
            current, "hold", f"held under {current.ceiling}, refused there; probed in {wait:.0f} s", judged
        )
    return Decision(current, "hold", "within limits", judged or recent)


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


@dataclass(frozen=True)
class RecycleMark:
    """When the browser was last recycled: the clock and the page counter then."""

    at: float
    pages: int


def recycle_reason(latest: Sample, mark: RecycleMark, config: ThrottleConfig) -> str | None:
    """Why the browser's contexts should be recycled now; None when they should not.

    After ``recycle_after_pages`` pages, or when the crawl's tree is over its memory budget, at
    most once a window (a tree that stays over it after a recycle is not the browser's doing
    alone) and only if pages were rendered since the last recycle.
    """
    pages = latest.pages - mark.pages
    if config.recycle_after_pages and pages >= config.recycle_after_pages:
        return f"{pages} pages since the last recycle"
    budget = config.max_tree_memory_bytes
    tree = latest.tree_bytes
    if (
        budget is not None
        and tree is not None
        and tree > budget
        and pages > 0
        and latest.at - mark.at >= config.window_seconds
    ):
        return f"crawl tree {tree / MIB:.0f} MiB > {config.max_tree_memory_mib:g} MiB"
    return None


def describe(sample: Sample) -> str:
    """The readings of one sample, for the status line."""
    parts = [
        f"CPU {sample.cpu_percent:.0f}% (niced {sample.nice_cpu_percent:.0f}%)",
        f"memory {sample.memory_percent:.0f}% ({sample.available_bytes / MIB:.0f} MiB free)",
    ]
    if sample.tree is not None:
        pss = "" if sample.tree.pss_bytes is None else f"{sample.tree.pss_bytes / MIB:.0f} MiB PSS, "
        parts.append(
            f"crawl tree {pss}{sample.tree.rss_bytes / MIB:.0f} MiB RSS in {sample.tree.processes} processes"
        )
    parts.append(f"loop lag {sample.loop_lag_seconds * 1000:.0f} ms")
    parts.append(f"{sample.in_flight} in flight")
    return ", ".join(parts)
