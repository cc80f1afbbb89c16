"""The run-health thresholds (``LOOQTA_HEALTH_*``), read and validated once."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from looqta.items import ProductItem

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

ITEM_FIELDS: frozenset[str] = frozenset(f.name for f in fields(ProductItem))
DEFAULT_FIELD_COVERAGE: dict[str, float] = {
    "source_id": 0.98,
    "title": 0.98,
    "price": 0.98,
    "currency": 0.98,
    "rating": 0.8,
}


def _share(name: str, value: Any) -> float:
    share = float(value)
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"{name} must be a share between 0 and 1, got {value!r}")
    return share


def _names(settings: BaseSettings, name: str, default: list[str]) -> tuple[str, ...]:
    value = settings.get(name, default)
    if isinstance(value, str) and value.strip().startswith("["):
        value = json.loads(value)  # -s NAME='["finished","closespider_itemcount"]'
    elif isinstance(value, str):
        value = value.split(",")
    names = tuple(str(item).strip() for item in value if str(item).strip())
    if not names:
        raise ValueError(f"{name} must name at least one finish reason")
    return names


@dataclass(frozen=True)
class HealthConfig:
    """What a healthy run looks like. Shares are fractions (0.98 = 98 %)."""

    enabled: bool = True
    min_items: int = 1
    #: Share of scraped items with the field non-empty, per item field.
    field_coverage: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_FIELD_COVERAGE))
    #: Items dropped by validation over items validated.
    max_validation_error_share: float = 0.02
    #: Block pages over answers from the site (block pages + pages that were not blocks).
    max_block_share: float = 0.2
    allowed_finish_reasons: tuple[str, ...] = ("finished",)

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> HealthConfig:
        min_items = settings.getint("LOOQTA_HEALTH_MIN_ITEMS", 1)
        if min_items < 0:
            raise ValueError(f"LOOQTA_HEALTH_MIN_ITEMS must be >= 0, got {min_items}")
        raw_coverage = settings.getdict("LOOQTA_HEALTH_FIELD_COVERAGE", DEFAULT_FIELD_COVERAGE)
        unknown = sorted(set(raw_coverage) - ITEM_FIELDS)
        if unknown:
            raise ValueError(
                f"LOOQTA_HEALTH_FIELD_COVERAGE names fields ProductItem lacks: {', '.join(unknown)}"
            )
        coverage = {
            name: _share(f"LOOQTA_HEALTH_FIELD_COVERAGE[{name!r}]", value)
            for name, value in raw_coverage.items()
        }
        return cls(
            enabled=settings.getbool("LOOQTA_HEALTH_ENABLED", True),
            min_items=min_items,
            field_coverage=coverage,
            max_validation_error_share=_share(
                "LOOQTA_HEALTH_MAX_VALIDATION_ERROR_SHARE",
                settings.get("LOOQTA_HEALTH_MAX_VALIDATION_ERROR_SHARE", 0.02),
            ),
            max_block_share=_share(
                "LOOQTA_HEALTH_MAX_BLOCK_SHARE", settings.get("LOOQTA_HEALTH_MAX_BLOCK_SHARE", 0.2)
            ),
            allowed_finish_reasons=_names(settings, "LOOQTA_HEALTH_ALLOWED_FINISH_REASONS", ["finished"]),
        )
