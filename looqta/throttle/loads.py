"""Readings to loads: how much of a span each resource was over its limit, and the refusals.

Pure functions over timestamped samples, in time order: no clock, no psutil, no Scrapy. A
resource is *overloaded* over a span when the share of the span's time its readings were over
their limit passes ``overloaded_share``; memory and 429/503 refusals have no allowance
(:data:`NO_ALLOWANCE`). See docs/throttle.md ("Decide") for why.
"""

from __future__ import annotations

from dataclasses import dataclass
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
class Load:
    share: float  #: of the span's time the resource was over its limit, 0..1
    reason: str  #: the latest reading over the limit; "" when none was


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


def busy(samples: Sequence[Sample], start: float, end: float, concurrency: int) -> bool:
    """Whether requests in flight averaged at least :data:`BUSY_SHARE` of ``concurrency``."""
    in_flight = [sample.in_flight for sample in samples if start < sample.at <= end]
    return bool(in_flight) and sum(in_flight) >= BUSY_SHARE * concurrency * len(in_flight)


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
