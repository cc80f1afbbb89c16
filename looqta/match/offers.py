"""Offers as the store keeps them, read for matching: ``offers`` documents -> :class:`Offer`, and each
offer's last price change from ``price_history``. Reads only (``looqta.store.repository`` writes both).

A product document carries each of its offers as an *entry* (:func:`entry`): the fields a shopper
and the matcher need, and the last change of its price (previous price and when), so a product page
needs no join for them; the whole history stays in ``price_history`` (:meth:`OfferReader.histories`).
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from pymongo import ASCENDING

from looqta.match.model import Offer, offer_key
from looqta.store.repository import OFFERS, PRICE_HISTORY

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Mapping

    from pymongo.asynchronous.database import AsyncDatabase

#: The offer fields a product's entry keeps (besides ``key``, ``site`` and ``last_change``).
ENTRY_FIELDS = ("source_id", "title", "brand", "gtin", "model", "price", "currency", "url", "seen_at")
_PROJECTION = {"_id": 0, **{name: 1 for name in ("source", *ENTRY_FIELDS)}}


def key_of(doc: Mapping[str, Any]) -> str:
    return offer_key(doc["source"], doc["source_id"])


def split_key(key: str) -> tuple[str, str]:
    site, _, source_id = key.partition(":")
    return site, source_id


def decimal(value: Any) -> Decimal | None:
    """A stored price (``Decimal128``) as a ``Decimal``."""
    if value is None:
        return None
    return value.to_decimal() if hasattr(value, "to_decimal") else Decimal(str(value))


def to_offer(doc: Mapping[str, Any]) -> Offer:
    """An ``offers`` document (or a product's entry) as the matcher sees it."""
    return Offer(
        key=doc.get("key") or key_of(doc),
        site=doc.get("site") or doc["source"],
        title=doc["title"],
        brand=doc.get("brand"),
        price=decimal(doc.get("price")),
        currency=doc.get("currency"),
        url=doc.get("url"),
        gtin=doc.get("gtin"),
        model=doc.get("model"),
        seen_at=doc.get("seen_at"),
    )


def entry(doc: Mapping[str, Any], last_change: dict[str, Any] | None) -> dict[str, Any]:
    """An offer as its product keeps it."""
    fields = {name: doc[name] for name in ENTRY_FIELDS if doc.get(name) is not None}
    return {"key": key_of(doc), "site": doc["source"], **fields, "last_change": last_change}


def last_change(history: list[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The latest change of one offer's price (history oldest first): previous price, new price, when.

    None while the offer has one recorded price (its first sighting is not a change).
    """
    if len(history) < 2:
        return None
    before, after = history[-2], history[-1]
    return {
        "previous_price": before["price"],
        "previous_currency": before.get("currency"),
        "price": after["price"],
        "changed_at": after.get("seen_at"),
    }


def _by_site(keys: Iterable[str]) -> dict[str, Any]:
    ids: defaultdict[str, list[str]] = defaultdict(list)
    for key in keys:
        site, source_id = split_key(key)
        ids[site].append(source_id)
    return {"$or": [{"source": site, "source_id": {"$in": found}} for site, found in sorted(ids.items())]}


class OfferReader:
    """Offers and their price history, read from the store for matching (async pymongo)."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.offers = database[OFFERS]
        self.history = database[PRICE_HISTORY]

    async def by_keys(self, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        keys = list(keys)
        if not keys:
            return {}
        return {key_of(doc): doc async for doc in self.offers.find(_by_site(keys), _PROJECTION)}

    async def batches(self, size: int) -> AsyncIterator[list[dict[str, Any]]]:
        """Every offer, ``size`` at a time, in key order."""
        cursor = self.offers.find({}, _PROJECTION).sort([("source", ASCENDING), ("source_id", ASCENDING)])
        batch: list[dict[str, Any]] = []
        async for doc in cursor.batch_size(size):
            batch.append(doc)
            if len(batch) >= size:
                yield batch
                batch = []
        if batch:
            yield batch

    async def histories(self, keys: Iterable[str] | None = None) -> dict[str, list[dict[str, Any]]]:
        """Each offer's recorded prices, oldest first (every offer's when ``keys`` is None)."""
        keys = None if keys is None else list(keys)
        if keys == []:
            return {}
        query = {} if keys is None else _by_site(keys)
        fields = {"_id": 0, "source": 1, "source_id": 1, "price": 1, "currency": 1, "seen_at": 1}
        found: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
        async for doc in self.history.find(query, fields).sort([("seen_at", ASCENDING)]):
            found[key_of(doc)].append({name: doc.get(name) for name in ("price", "currency", "seen_at")})
        return dict(found)

    async def last_changes(self, keys: Iterable[str] | None = None) -> dict[str, dict[str, Any] | None]:
        return {key: last_change(history) for key, history in (await self.histories(keys)).items()}
