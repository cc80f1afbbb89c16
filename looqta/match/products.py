"""The ``products`` collection: one document per product, its offers on every site. The one writer of it.

A document (built by :func:`product_document`, the same for incremental matching and the rebuild)::

    _id           the product id (``engine.new_product_id`` of the offer that started it)
    offers        one entry per offer (``looqta.match.offers.entry``), sorted by key; each with its
                  last price change (previous price, when)
    offer_keys    the entries' keys (indexed: "which product holds this offer")
    cheapest      the cheapest entry's key, site, price, currency, url
    matches       the matches that joined the offers: left, right, rule, score
    blocking_keys the union of the offers' ``engine.blocking_keys`` (indexed: the candidates of a new offer)
    title_words   the offers' title words (indexed: ``python -m looqta.store products WORDS``)
    title         the cheapest offer's title
    version       bumped on every write; every replace and delete is conditional on it, so two
                  processes matching at once never overwrite each other's work (the loser re-reads)
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from looqta.match import engine
from looqta.match.offers import decimal
from looqta.store.documents import title_words

if TYPE_CHECKING:
    from collections.abc import Iterable

    from pymongo.asynchronous.database import AsyncDatabase

    from looqta.match.model import Match

PRODUCTS = "products"
#: What a product id may look like (the service answers 400 for anything else).
PRODUCT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:~+=-]{0,199}")
#: Fields that say when and how often a document was written, not what it holds.
BOOKKEEPING = ("version", "updated_at")


def valid_product_id(value: str) -> bool:
    return PRODUCT_ID.fullmatch(value) is not None


def match_record(match: Match) -> dict[str, Any]:
    return {"left": match.left, "right": match.right, "rule": match.rule, "score": match.score}


def cheapest(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The cheapest entry among those in the product's most common currency (ties: the lower key)."""
    priced = [e for e in entries if e.get("price") is not None]
    if not priced:
        return None
    currencies = Counter(e.get("currency") for e in priced)
    currency = min(currencies, key=lambda c: (-currencies[c], str(c)))
    best = min(
        (e for e in priced if e.get("currency") == currency), key=lambda e: (decimal(e["price"]), e["key"])
    )
    return {name: best.get(name) for name in ("key", "site", "price", "currency", "url")}


def product_document(
    product_id: str, entries: Iterable[dict[str, Any]], matches: Iterable[dict[str, Any]], keys: Iterable[str]
) -> dict[str, Any]:
    """The stored form of one product (without ``version`` / ``updated_at``); deterministic."""
    by_key = {e["key"]: e for e in entries}
    ordered = [by_key[key] for key in sorted(by_key)]
    unique = {(m["left"], m["right"], m["rule"]): m for m in matches}
    best = cheapest(ordered)
    title = next((e["title"] for e in ordered if best and e["key"] == best["key"]), ordered[0]["title"])
    words = dict.fromkeys(word for e in ordered for word in title_words(e["title"]))
    return {
        "_id": product_id,
        "title": title,
        "offers": ordered,
        "offer_keys": [e["key"] for e in ordered],
        "sites": sorted({e["site"] for e in ordered}),
        "cheapest": best,
        "matches": [unique[k] for k in sorted(unique)],
        "blocking_keys": sorted(set(keys)),
        "title_words": list(words),
    }


def content(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` without its bookkeeping: what the rebuild compares."""
    return {name: value for name, value in doc.items() if name not in BOOKKEEPING}


class ProductStore:
    """Reads and conditional writes of ``products`` (async pymongo)."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.products = database[PRODUCTS]

    async def ensure_indexes(self) -> None:
        await self.products.create_indexes(
            [
                IndexModel([("offer_keys", ASCENDING)], name="offer_keys"),
                IndexModel([("blocking_keys", ASCENDING)], name="blocking_keys"),
                IndexModel([("title_words", ASCENDING)], name="title_words"),
            ]
        )

    async def holding(self, offer_keys: Iterable[str]) -> list[dict[str, Any]]:
        """The products that hold any of ``offer_keys``."""
        return [doc async for doc in self.products.find({"offer_keys": {"$in": sorted(set(offer_keys))}})]

    async def candidates(self, blocking_keys: Iterable[str]) -> list[dict[str, Any]]:
        """The products sharing a lookup key with an offer (``engine.lookup_keys``: its identifiers and
        line + model tokens when it has any, else its brand and line), the only ones it may join."""
        keys = sorted(engine.lookup_keys(set(blocking_keys)))
        if not keys:
            return []
        return [doc async for doc in self.products.find({"blocking_keys": {"$in": keys}})]

    async def get(self, product_id: str) -> dict[str, Any] | None:
        return await self.products.find_one({"_id": product_id})

    async def all(self) -> dict[str, dict[str, Any]]:
        return {doc["_id"]: doc async for doc in self.products.find({})}

    async def filed_under(self, keys: Iterable[str], limit_offers: int) -> list[dict[str, Any]] | None:
        """The products filed under any of ``keys`` (their ``blocking_keys``); None as soon as they hold
        more than ``limit_offers`` offers."""
        found: list[dict[str, Any]] = []
        offers = 0
        async for doc in self.products.find({"blocking_keys": {"$in": sorted(set(keys))}}):
            offers += len(doc["offer_keys"])
            if offers > limit_offers:
                return None
            found.append(doc)
        return found

    async def search(self, words: str, limit: int) -> list[dict[str, Any]]:
        """Products whose offers' titles hold every word of ``words``, cheapest first."""
        wanted = title_words(words)
        if not wanted:
            raise ValueError(f"nothing to search for in {words!r}: give at least one word")
        cursor = (
            self.products.find({"title_words": {"$all": wanted}})
            .sort([("cheapest.price", ASCENDING), ("_id", ASCENDING)])
            .limit(limit)
        )
        return [doc async for doc in cursor]

    async def insert(self, doc: dict[str, Any]) -> bool:
        """Insert a new product; False when its id is taken."""
        try:
            await self.products.insert_one({**doc, "version": 1, "updated_at": _now()})
        except DuplicateKeyError:
            return False
        return True

    async def replace(self, doc: dict[str, Any], version: int) -> bool:
        """Replace the product if it is still at ``version``; False when someone wrote it since."""
        new = {**content(doc), "version": version + 1, "updated_at": _now()}
        result = await self.products.replace_one({"_id": doc["_id"], "version": version}, new)
        return result.matched_count == 1

    async def delete(self, product_id: str, version: int) -> bool:
        result = await self.products.delete_one({"_id": product_id, "version": version})
        return result.deleted_count == 1


def _now() -> datetime:
    return datetime.now(UTC)
