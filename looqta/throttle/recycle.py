"""When to recycle the browser's contexts: a pure decision, as :mod:`looqta.throttle.decide`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from looqta.throttle.config import MIB

if TYPE_CHECKING:
    from looqta.throttle.config import ThrottleConfig
    from looqta.throttle.sampler import Sample


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
