"""The run-health decision: pure functions of a crawl's stats and a :class:`HealthConfig`.

Every check answers one question with a measured value and the limit it was held to, so a
test builds a stats dict and asserts the exact verdict, and the log line says why it failed
("health: field coverage price 0.91 < 0.98").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

    from looqta.health.config import HealthConfig

#: Spidermon's per-item-type and per-field counters (``SPIDERMON_ADD_FIELD_COVERAGE``).
SPIDERMON_COUNT = "spidermon_item_scraped_count"
#: 1 in a warm crawler's stats (looqta.search.warm): it has no end of its own and runs only the
#: searches it is given, so a stop on purpose (``WARM_STOP_REASONS``) is not a failed run, and with
#: no search taken there are no items to count.
WARM_CRAWL_STAT = "looqta/search/warm"
WARM_STOP_REASONS = ("shutdown",)
SEARCHES_TAKEN_PREFIX = "looqta/search/taken/"


@dataclass(frozen=True)
class Check:
    """One check's outcome. ``value`` is ``None`` when the stats cannot measure it (skipped)."""

    name: str
    label: str
    value: float | int | str | None
    op: str
    limit: float | int | tuple[str, ...]
    ok: bool

    @property
    def skipped(self) -> bool:
        return self.value is None

    @property
    def message(self) -> str:
        if self.value is None:
            return f"{self.label}: not measured"
        negation = {">=": "<", "<=": ">", "in": "not in"}
        op = self.op if self.ok else negation[self.op]
        limit = list(self.limit) if isinstance(self.limit, tuple) else _number(self.limit)
        value = repr(self.value) if isinstance(self.value, str) else _number(self.value)
        return f"{self.label} {value} {op} {limit}"


def _number(value: float | int) -> str:
    if isinstance(value, int):
        return str(value)
    return f"{value:.3f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.1f}"


def _share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


# --- measurements -----------------------------------------------------------------------------


def item_count(stats: Mapping[str, Any]) -> int:
    return int(stats.get("item_scraped_count", 0) or 0)


def field_coverage(stats: Mapping[str, Any]) -> dict[str, float] | None:
    """Share of scraped items with each field non-empty, from Spidermon's counters; ``None``
    when Spidermon did not count (off, or no item scraped)."""
    total = stats.get(SPIDERMON_COUNT, 0) or 0
    if not total:
        return None
    present: dict[str, int] = {}
    for key, value in stats.items():
        parts = key.split("/")
        if parts[0] == SPIDERMON_COUNT and len(parts) == 3:  # .../<item type>/<field>
            present[parts[2]] = present.get(parts[2], 0) + int(value)
    return {name: count / total for name, count in present.items()}


def is_warm(stats: Mapping[str, Any]) -> bool:
    return bool(stats.get(WARM_CRAWL_STAT))


def searches_taken(stats: Mapping[str, Any]) -> int:
    return sum(int(v or 0) for k, v in stats.items() if k.startswith(SEARCHES_TAKEN_PREFIX))


def validation_error_share(stats: Mapping[str, Any]) -> float:
    dropped = stats.get("looqta/validate/dropped", 0) or 0
    return _share(dropped, dropped + (stats.get("looqta/validate/ok", 0) or 0))


def block_share(stats: Mapping[str, Any]) -> float:
    blocks = stats.get("looqta/blocks/total", 0) or 0
    return _share(blocks, blocks + (stats.get("looqta/blocks/passed", 0) or 0))


# --- checks -------------------------------------------------------------------------------------


def check_item_count(stats: Mapping[str, Any], config: HealthConfig) -> Check:
    count: int | None = item_count(stats)
    if is_warm(stats) and not searches_taken(stats):
        count = None  # a warm crawler nobody gave a search: nothing to judge
    ok = count is None or count >= config.min_items
    return Check("item_count", "items", count, ">=", config.min_items, ok)


def check_field_coverage(stats: Mapping[str, Any], config: HealthConfig, name: str) -> Check:
    limit = config.field_coverage[name]
    coverage = field_coverage(stats)
    share = None if coverage is None else coverage.get(name, 0.0)
    ok = share is None or share >= limit
    return Check(f"field_coverage/{name}", f"field coverage {name}", share, ">=", limit, ok)


def check_validation_errors(stats: Mapping[str, Any], config: HealthConfig) -> Check:
    share = validation_error_share(stats)
    limit = config.max_validation_error_share
    return Check("validation_error_share", "validation error share", share, "<=", limit, share <= limit)


def check_block_share(stats: Mapping[str, Any], config: HealthConfig) -> Check:
    share = block_share(stats)
    limit = config.max_block_share
    return Check("block_share", "block share", share, "<=", limit, share <= limit)


def check_finish_reason(stats: Mapping[str, Any], config: HealthConfig) -> Check:
    reason = str(stats.get("finish_reason") or "unknown")
    allowed = config.allowed_finish_reasons
    if is_warm(stats):
        allowed = (*allowed, *(r for r in WARM_STOP_REASONS if r not in allowed))
    return Check("finish_reason", "finish reason", reason, "in", allowed, reason in allowed)


def evaluate(stats: Mapping[str, Any], config: HealthConfig) -> list[Check]:
    """Every check of ``config`` against ``stats``, in a fixed order."""
    return [
        check_item_count(stats, config),
        *(check_field_coverage(stats, config, name) for name in config.field_coverage),
        check_validation_errors(stats, config),
        check_block_share(stats, config),
        check_finish_reason(stats, config),
    ]


def failed(checks: list[Check]) -> list[Check]:
    return [check for check in checks if not check.ok]


def summary(checks: list[Check]) -> str:
    """``health: green`` or ``health: RED (2 of 9 checks failed: block_share, finish_reason)``."""
    bad = failed(checks)
    if not bad:
        return "health: green"
    names = ", ".join(check.name for check in bad)
    return f"health: RED ({len(bad)} of {len(checks)} checks failed: {names})"
