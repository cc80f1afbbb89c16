"""Read a finished crawl's health back from its log (a Scrapyd job log, say)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

#: The summary line :class:`~looqta.health.actions.RecordHealth` logs: ``health: green`` or
#: ``health: RED (...)``; the per-check ERROR lines ("health: items 0 < 1") do not match.
SUMMARY = re.compile(r"\bhealth: (green|RED \(.*\))\s*$")
#: The summary comes just before Scrapy's stats dump at the end of the log.
TAIL_BYTES = 1 << 20


def health_from_log(path: Path, tail_bytes: int = TAIL_BYTES) -> str | None:
    """``"green"``, ``"RED (...)"``, or ``None`` when the log is missing or holds no verdict."""
    try:
        with path.open("rb") as log:
            size = log.seek(0, 2)
            log.seek(max(0, size - tail_bytes))
            tail = log.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None
    verdict = None
    for line in tail.splitlines():
        match = SUMMARY.search(line)
        if match:
            verdict = match.group(1)
    return verdict
