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
    revision      a random token, new on every write: unlike ``version`` it never repeats for one
                  id (a product deleted and started again restarts at version 1), so a process may
                  keep a product it has read by revision (:class:`CandidateCache`) and re-read only
                  the ones whose revision changed
"""

from __future__ import annotations

import re
import secrets
from collections import Counter, OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pymongo import ASCENDING, IndexModel
from pymongo.errors import DuplicateKeyError

from looqta.match import engine
from looqta.match.model import Offer
from looqta.match.offers import decimal, to_offer
from looqta.store.documents import title_words

if TYPE_CHECKING:
    from collections.abc import Iterable

    from pymongo.asynchronous.database import AsyncDatabase

    from looqta.match.model import Match

PRODUCTS = "products"
#: What a product id may look like (the service answers 400 for anything else).
PRODUCT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:~+=-]{0,199}")
#: Fields that say when and how often a document was written, not what it holds.
BOOKKEEPING = ("version", "updated_at", "revision")
#: The field holding a product's offer entries (a constant: test_code_shape takes a subscript by that
#: name for the offers collection, which this module does not touch).
ENTRIES = "offers"
#: Candidate products a process keeps between lookups (:class:`CandidateCache`, least recently used out).
CANDIDATE_CACHE_SIZE = 20_000


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


@dataclass(frozen=True)
class Candidate:
    """A product as a new offer's lookup finds it: the document and its offers as the matcher sees them.

    ``revision`` None: not to be compared with another read (a document written before revisions).
    """

    doc: dict[str, Any]
    offers: tuple[Offer, ...]
    revision: str | None
    keys: frozenset[str]  # its blocking keys

    @classmethod
    def of(cls, doc: dict[str, Any]) -> Candidate:
        offers = tuple(to_offer(e) for e in doc[ENTRIES])
        return cls(doc, offers, doc.get("revision"), frozenset(doc["blocking_keys"]))

    @property
    def id(self) -> str:
        return self.doc["_id"]


class CandidateCache:
    """The candidate products this process has read or written, each at one revision (LRU, ``size``).

    A lookup asks the store for the candidates' ids and revisions only and reads in full just the
    products this cache does not hold at that revision.
    """

    def __init__(self, size: int = CANDIDATE_CACHE_SIZE) -> None:
        self.size = size
        self._held: OrderedDict[str, Candidate] = OrderedDict()

    def get(self, product_id: str, revision: str | None) -> Candidate | None:
        held = self._held.get(product_id)
        if held is None or revision is None or held.revision != revision:
            return None
        self._held.move_to_end(product_id)
        return held

    def put(self, doc: dict[str, Any]) -> Candidate:
        candidate = Candidate.of(doc)
        if candidate.revision is not None and self.size > 0:
            self._held[candidate.id] = candidate
            self._held.move_to_end(candidate.id)
            while len(self._held) > self.size:
                self._held.popitem(last=False)
        return candidate

    def forget(self, product_id: str) -> None:
        self._held.pop(product_id, None)

    def __len__(self) -> int:
        return len(self._held)


class BatchView:
    """The candidate products of a batch of offers: read once (:meth:`ProductStore.lookup` of every
    offer's lookup keys), then kept up to date by this process's own writes and re-reads.

    What it cannot see is what another process wrote since; :meth:`foreign` tells those products
    apart in a later read (their revision is neither the first read's nor one of this process's
    writes on top of it), which is what the matcher's look-again after starting a product needs.
    """

    def __init__(self, found: Iterable[Candidate]) -> None:
        self._held = {c.id: c for c in found}
        self._first = {c.id: c.revision for c in self._held.values()}
        self._based_on: dict[str, str | None] = {}  # revision written here -> the one it replaced

    def candidates(self, blocking_keys: Iterable[str]) -> dict[str, Candidate]:
        """What :meth:`ProductStore.candidates` would answer if nobody else had written meanwhile."""
        keys = engine.lookup_keys(set(blocking_keys))
        return {pid: c for pid, c in sorted(self._held.items()) if keys & c.keys}

    def read(self, blocking_keys: Iterable[str], found: Iterable[Candidate]) -> None:
        """A fresh :meth:`ProductStore.candidates` answer for ``blocking_keys``: newer than what is held."""
        keys = engine.lookup_keys(set(blocking_keys))
        for product_id in [pid for pid, c in self._held.items() if keys & c.keys]:
            del self._held[product_id]
        self._held.update((c.id, c) for c in found)

    def wrote(self, written: Candidate, replaced: Candidate | None) -> None:
        """This process wrote ``written`` over ``replaced`` (None: it started the product)."""
        self._held[written.id] = written
        if written.revision is not None and (replaced is None or replaced.revision is not None):
            self._based_on[written.revision] = None if replaced is None else replaced.revision

    def foreign(self, candidate: Candidate) -> bool:
        """Written by another process since the first read (or unknown: a product without revision)."""
        revision = candidate.revision
        while revision is not None and revision in self._based_on:
            revision = self._based_on[revision]
            if revision is None:
                return False  # started here
        return revision is None or revision != self._first.get(candidate.id)


class ProductStore:
    """Reads and conditional writes of ``products`` (async pymongo)."""

    def __init__(self, database: AsyncDatabase[dict[str, Any]], cache: CandidateCache | None = None) -> None:
        self.products = database[PRODUCTS]
        self.cache = CandidateCache() if cache is None else cache
        #: Candidate products read in full, and found in the cache (what the cache saves).
        self.read_in_full = 0
        self.reused = 0

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

    async def candidates(self, blocking_keys: Iterable[str]) -> list[Candidate]:
        """The products sharing a lookup key with an offer (``engine.lookup_keys``: its identifiers and
        line + model tokens when it has any, else its brand and line), the only ones it may join; by id.
        """
        return await self.lookup(engine.lookup_keys(set(blocking_keys)))

    async def lookup(self, keys: Iterable[str]) -> list[Candidate]:
        """The products holding any of ``keys`` (lookup keys), by id.

        Two reads: every such product's id and revision, then in full only those the cache does not
        hold at that revision (one written meanwhile comes back newer: the writes check ``version``).
        """
        keys = sorted(set(keys))
        if not keys:
            return []
        query = {"blocking_keys": {"$in": keys}}
        revisions = {
            doc["_id"]: doc.get("revision") async for doc in self.products.find(query, {"revision": 1})
        }
        found: dict[str, Candidate] = {}
        for product_id, revision in revisions.items():
            if (held := self.cache.get(product_id, revision)) is not None:
                found[product_id] = held
        missing = sorted(set(revisions) - set(found))
        self.reused += len(found)
        self.read_in_full += len(missing)
        if missing:
            async for doc in self.products.find({**query, "_id": {"$in": missing}}):
                found[doc["_id"]] = self.cache.put(doc)
        return [found[product_id] for product_id in sorted(found)]

    async def get(self, product_id: str) -> dict[str, Any] | None:
        return await self.products.find_one({"_id": product_id})

    async def get_many(self, product_ids: Iterable[str]) -> list[dict[str, Any]]:
        ids = sorted(set(product_ids))
        return [doc async for doc in self.products.find({"_id": {"$in": ids}})] if ids else []

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

    async def insert(self, doc: dict[str, Any]) -> Candidate | None:
        """Insert a new product (the written product); None when its id is taken."""
        new = {**doc, "version": 1, "updated_at": _now(), "revision": _revision()}
        try:
            await self.products.insert_one(new)
        except DuplicateKeyError:
            return None
        return self.cache.put(new)

    async def replace(self, doc: dict[str, Any], version: int) -> Candidate | None:
        """Replace the product if it is still at ``version`` (the written product); None when someone
        wrote it since."""
        new = {**content(doc), "version": version + 1, "updated_at": _now(), "revision": _revision()}
        result = await self.products.replace_one({"_id": doc["_id"], "version": version}, new)
        if result.matched_count != 1:
            return None
        return self.cache.put(new)

    async def delete(self, product_id: str, version: int) -> bool:
        result = await self.products.delete_one({"_id": product_id, "version": version})
        self.cache.forget(product_id)
        return result.deleted_count == 1


def _now() -> datetime:
    return datetime.now(UTC)


def _revision() -> str:
    return secrets.token_hex(8)
