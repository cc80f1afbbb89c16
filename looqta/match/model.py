"""The matching contract: what an offer is to the matcher, and what a match says.

Pure data. ``looqta.match.engine`` decides matches from these; the store side
(``looqta.match.products`` and the rebuild) reads offers from the store into
:class:`Offer` and writes :class:`Product` groups back. Nothing here touches I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class Offer:
    """One site's offer, as the matcher sees it.

    ``key`` is unique across sites: ``"<site>:<source_id>"`` (:func:`offer_key`).
    ``gtin`` and ``model`` are identifiers the page gave outright (JSON-LD, a
    specifications table); the engine also reads model codes out of the title.
    """

    key: str
    site: str
    title: str
    brand: str | None = None
    price: Decimal | None = None
    currency: str | None = None
    url: str | None = None
    gtin: str | None = None
    model: str | None = None
    seen_at: datetime | None = None


@dataclass(frozen=True)
class Match:
    """Why two offers are one product: the rule that decided it and its score (0..1)."""

    left: str
    right: str
    score: float
    rule: str


@dataclass(frozen=True)
class Product:
    """A group of offers that are one product, with the matches that joined them.

    ``id`` is deterministic: the same offers grouped by the same rules give the same id.
    """

    id: str
    offers: tuple[str, ...]
    matches: tuple[Match, ...] = field(default=())


def offer_key(site: str, source_id: str) -> str:
    return f"{site}:{source_id}"
