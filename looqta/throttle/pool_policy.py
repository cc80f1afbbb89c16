"""How many file workers to run: a pure decision over timestamped samples.

The file-workers control (:mod:`looqta.throttle.file_workers`) feeds it samples (the queue's
length and busy workers, the machine's CPU from the throttle's reading) and applies the answer
under the throttle's cap. Nothing here reads a clock or the system.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence


@dataclass(frozen=True)
class PoolSample:
    at: float  #: seconds on any monotonic clock
    queue_length: int  #: tasks pending (runnable or backing off)
    busy_workers: int  #: tasks processing
    cpu_percent: float  #: machine-wide CPU use, 0..100


@dataclass(frozen=True)
class PoolLimits:
    minimum: int
    maximum: int
    grow_queue_length: int = 10  #: grow when more tasks than this wait…
    grow_cpu_below_percent: float = 80.0  #: …and the CPU is under this
    shrink_idle_seconds: float = 30.0  #: shrink after this long with nothing queued or running
    step: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.minimum <= self.maximum:
            raise ValueError(f"need 1 <= minimum <= maximum, got {self.minimum}..{self.maximum}")
        if self.step < 1:
            raise ValueError("step must be >= 1")


def decide_workers(current: int, samples: Sequence[PoolSample], limits: PoolLimits) -> int:
    """The pool size to run next, given the ``current`` size and recent ``samples`` (any order).

    * grow by ``step`` when the latest queue is longer than ``grow_queue_length`` and the CPU,
      averaged over the samples, is under ``grow_cpu_below_percent``;
    * shrink by ``step`` when every sample of the last ``shrink_idle_seconds`` (and there must be
      samples covering that whole span) shows nothing queued and nothing running;
    * otherwise keep ``current``. The answer is always within the limits.
    """
    size = min(max(current, limits.minimum), limits.maximum)
    if not samples:
        return size
    ordered = sorted(samples, key=lambda sample: sample.at)
    latest = ordered[-1]
    cpu = sum(sample.cpu_percent for sample in ordered) / len(ordered)
    if latest.queue_length > limits.grow_queue_length and cpu < limits.grow_cpu_below_percent:
        return min(size + limits.step, limits.maximum)
    window_start = latest.at - limits.shrink_idle_seconds
    covers_window = ordered[0].at <= window_start
    recent = [sample for sample in ordered if sample.at >= window_start]
    if covers_window and all(s.queue_length == 0 and s.busy_workers == 0 for s in recent):
        return max(size - limits.step, limits.minimum)
    return size
