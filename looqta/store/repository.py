"""Every read and write of the store's collections: indexes, bulk upserts, price history, dead letters.

``offers`` holds one document per offer, keyed by the unique index
(``source``, ``source_id``): that index, not any in-memory set, is what keeps two
crawls running at once from leaving two documents for one product.

Each write is one aggregation-pipeline update per item (MongoDB >= 4.2) that, atomically
on the document, leaves it alone when the stored sighting is newer (``seen_at``), and
otherwise sets the fields and, when price or currency differ (or the product is new),
stamps ``price_change_id`` with the batch's change id. ``price_history`` then gets one
document per product carrying that change id (its ``_id`` holds the change id, so a change
is recorded once, even when two crawls see it at the same moment, or a write is retried).
The writer keeps the change id in its spool from before the write until the history is in,
so a kill in between is completed later. Documents the server refuses for good go to
``dead_letters`` (``faults.py``). Details and reasons: docs/store.md.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pymongo import ASCENDING, IndexModel, ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError, InvalidDocument, OperationFailure

from looqta.store import layout
from looqta.store.documents import FileSet, Operation, ProductDocument, title_words
from looqta.store.faults import (
    DUPLICATE_KEY_CODES,
    Refusal,
    dead_letter,
    is_permanent_command_error,
    is_product_key_duplicate,
    is_transient,
    refusal_from_error,
    refusal_from_write_error,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable
    from datetime import datetime

    from pymongo.asynchronous.collection import AsyncCollection
    from pymongo.asynchronous.database import AsyncDatabase
    from pymongo.collection import Collection

logger = logging.getLogger(__name__)

#: One document per offer (one site's listing), keyed by (``source``, ``source_id``).
OFFERS = "offers"
PRICE_HISTORY = "price_history"
#: Documents the server refused for good (``looqta.store.faults``), kept with the reason.
DEAD_LETTERS = "dead_letters"
#: How often an upsert that lost an insert race is sent again (it then updates).
DUPLICATE_KEY_ATTEMPTS = 3


@dataclass
class WriteSummary:
    """What one batch did to the store."""

    upserted: int = 0  # new products
    modified: int = 0  # products that existed and were updated
    stale: int = 0  # products left alone: the stored sighting is newer than the batch's
    price_changes: int = 0  # price-history documents recorded
    files_set: int = 0  # products whose file records were set
    files_missing: int = 0  # file records whose product is not in the store
    refused: list[Refusal] = field(default_factory=list)  # refused for good by the server
    dead_letters: int = 0  # dead letters written (a refusal seen again is one dead letter)

    @property
    def written(self) -> int:
        return self.upserted + self.modified + self.stale


class ProductRepository:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.database = database
        self.offers = database[OFFERS]
        self.history = database[PRICE_HISTORY]
        self.dead_letters = database[DEAD_LETTERS]
        #: Awaited between the product upsert and the price-history write (tests stand a kill there).
        self.between_writes: Callable[[], Awaitable[None]] | None = None

    async def migrate(self) -> bool:
        """Bring an older store's layout up to date (``looqta.store.layout``); True when it did."""
        return await layout.migrate(self.database, OFFERS)

    async def ensure_indexes(self) -> None:
        await self.migrate()
        await self.offers.create_indexes(
            [
                IndexModel(
                    [("source", ASCENDING), ("source_id", ASCENDING)], unique=True, name="product_key"
                ),
                IndexModel([("price_change_id", ASCENDING)], name="price_change_id"),
                IndexModel([("title_words", ASCENDING)], name="title_words"),
            ]
        )
        await self.history.create_indexes(
            [
                IndexModel(
                    [("source", ASCENDING), ("source_id", ASCENDING), ("seen_at", ASCENDING)],
                    name="product_seen_at",
                )
            ]
        )

    async def ping(self) -> None:
        await self.database.command("ping")

    async def write(self, operations: Iterable[Operation], change_id: str, now: datetime) -> WriteSummary:
        """Upsert the products among ``operations`` and record their price changes, then set the
        file records among them (after the products, so a product and its files may share a batch).
        Documents the server refuses for good go to ``dead_letters``; the rest are written.

        Idempotent: sending the same operations again changes ``updated_at`` only. Raises what
        :func:`~looqta.store.faults.is_transient` calls transient (the caller spools the batch).
        """
        operations = list(operations)
        summary = await self.upsert(
            [op for op in operations if isinstance(op, ProductDocument)], change_id, now
        )
        await self.set_files([op for op in operations if isinstance(op, FileSet)], summary)
        summary.dead_letters += await self.add_dead_letters(summary.refused, now)
        return summary

    async def set_files(self, file_sets: list[FileSet], summary: WriteSummary) -> None:
        """``$set`` each product's file records (:func:`file_set_update`), in one unordered bulk write."""
        if not file_sets:
            return
        details = await self._bulk(file_sets, [UpdateOne(*file_set_update(op)) for op in file_sets], summary)
        matched = details.get("nMatched", 0)
        summary.files_set += matched
        summary.files_missing += len(file_sets) - matched - len(details.get("writeErrors", []))

    async def upsert(
        self, documents: Iterable[ProductDocument], change_id: str, now: datetime
    ) -> WriteSummary:
        """Upsert ``documents`` in one unordered bulk write, then record their price changes."""
        summary = WriteSummary()
        pending = list(_newest_per_key(documents))
        for _attempt in range(DUPLICATE_KEY_ATTEMPTS):
            if not pending:
                break
            # Building a few hundred operations takes tens of ms of CPU: off the event loop.
            operations = await asyncio.to_thread(_upsert_operations, pending, change_id, now)
            details = await self._bulk(pending, operations, summary)
            summary.upserted += details.get("nUpserted", 0)
            summary.modified += details.get("nModified", 0)
            summary.stale += details.get("nMatched", 0) - details.get("nModified", 0)
            pending = [
                pending[e["index"]] for e in details.get("writeErrors", []) if is_product_key_duplicate(e)
            ]
        summary.refused += [
            Refusal(doc, "duplicate_key", 11000, "duplicate key error after retries") for doc in pending
        ]
        if self.between_writes is not None:
            await self.between_writes()
        summary.price_changes = await self.record_history(change_id, now)
        return summary

    async def _bulk(self, ops: list[Any], requests: list[UpdateOne], summary: WriteSummary) -> dict[str, Any]:
        """One unordered bulk write. Refusals of single documents are added to ``summary.refused``
        (a duplicate on the product key is left in ``writeErrors`` for the caller to retry). A whole
        command refused for its content is split: each document is sent alone."""
        try:
            return (await self.offers.bulk_write(requests, ordered=False)).bulk_api_result
        except BulkWriteError as error:
            if is_transient(error):
                raise
            details = error.details
        except (OperationFailure, InvalidDocument) as error:
            if not is_permanent_command_error(error):
                raise
            if len(requests) == 1:
                summary.refused.append(refusal_from_error(ops[0], error))
                return {"writeErrors": [{"index": 0}]}
            details = {"writeErrors": []}
            for index, (op, request) in enumerate(zip(ops, requests, strict=True)):
                one = await self._bulk([op], [request], summary)
                for name in ("nUpserted", "nMatched", "nModified"):
                    details[name] = details.get(name, 0) + one.get(name, 0)
                details["writeErrors"] += [{**e, "index": index} for e in one.get("writeErrors", [])]
            return details
        for write_error in details.get("writeErrors", []):
            if not is_product_key_duplicate(write_error) and "code" in write_error:
                summary.refused.append(refusal_from_write_error(ops[write_error["index"]], write_error))
        return details

    async def add_dead_letters(self, refusals: list[Refusal], now: datetime) -> int:
        """Keep each refused document in ``dead_letters``; returns how many are new (idempotent)."""
        if not refusals:
            return 0
        letters = [dead_letter(refusal, OFFERS, now) for refusal in refusals]
        return await _insert_once(self.dead_letters, letters)

    async def record_history(self, change_id: str, now: datetime) -> int:
        """Add a ``price_history`` document for each product whose price ``change_id`` changed
        (idempotent: an entry's ``_id`` holds the change id)."""
        changed = self.offers.find(
            {"price_change_id": change_id},
            {"_id": 0, "source": 1, "source_id": 1, "price": 1, "currency": 1, "price_changed_at": 1},
        )
        entries = [
            {
                "_id": {"change_id": change_id, "source": doc["source"], "source_id": doc["source_id"]},
                "source": doc["source"],
                "source_id": doc["source_id"],
                "price": doc["price"],
                "currency": doc["currency"],
                "seen_at": doc.get("price_changed_at"),
                "recorded_at": now,
            }
            async for doc in changed
        ]
        return await _insert_once(self.history, entries) if entries else 0

    async def search(self, words: str, limit: int) -> list[dict[str, Any]]:
        """The cheapest offers whose title holds every word of ``words``, cheapest first."""
        wanted = title_words(words)
        if not wanted:
            raise ValueError(f"nothing to search for in {words!r}: give at least one word")
        cursor = (
            self.offers.find({"title_words": {"$all": wanted}}, {"_id": 0, "title_words": 0, "files": 0})
            .sort([("price", ASCENDING), ("source", ASCENDING), ("source_id", ASCENDING)])
            .limit(limit)
        )
        return [doc async for doc in cursor]

    async def product(self, source: str, source_id: str) -> dict[str, Any] | None:
        return await self.offers.find_one({"source": source, "source_id": source_id}, {"_id": 0})

    async def price_history(self, source: str, source_id: str) -> list[dict[str, Any]]:
        """Every recorded price of one product, oldest first."""
        cursor = self.history.find(
            {"source": source, "source_id": source_id}, {"_id": 0, "price": 1, "currency": 1, "seen_at": 1}
        ).sort([("seen_at", ASCENDING)])
        return [doc async for doc in cursor]


def file_set_update(op: FileSet) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Filter and pipeline update that set a product's ``files``, unless the stored product was
    seen later than ``op`` (a newer crawl stored it since: its records are newer too).

    The one place file records are written from: the store writer and the file workers' own
    write (``looqta.store.files_update``) both use it.
    """
    value: Any = {"$literal": op.files}
    if op.seen_at is not None:
        value = {"$cond": [{"$gt": ["$seen_at", {"$literal": op.seen_at}]}, "$files", value]}
    return {"source": op.source, "source_id": op.source_id}, [{"$set": {"files": value}}]


def set_files_now(offers: Collection[dict[str, Any]], op: FileSet) -> dict[str, Any] | None:
    """A file worker's own write (synchronous pymongo): :func:`file_set_update` on one product;
    the product's ``files`` and ``seen_at`` as they were before, or None when there is none."""
    before: dict[str, Any] | None = offers.find_one_and_update(
        *file_set_update(op),
        projection={"_id": 0, "files": 1, "seen_at": 1},
        return_document=ReturnDocument.BEFORE,
    )
    return before


def _newest_per_key(documents: Iterable[ProductDocument]) -> list[ProductDocument]:
    """One document per product: the newest sighting (the last one on a tie)."""
    newest: dict[tuple[str, str], ProductDocument] = {}
    for doc in documents:
        kept = newest.get(doc.key)
        if kept is None or doc.fields["seen_at"] >= kept.fields["seen_at"]:
            newest[doc.key] = doc
    return list(newest.values())


async def _insert_once(collection: AsyncCollection[dict[str, Any]], documents: list[dict[str, Any]]) -> int:
    """Insert ``documents`` whose ``_id`` is not taken yet; returns how many were new."""
    try:
        result = await collection.insert_many(documents, ordered=False)
    except BulkWriteError as error:
        others = [e for e in error.details.get("writeErrors", []) if e.get("code") not in DUPLICATE_KEY_CODES]
        if others:
            raise
        return int(error.details.get("nInserted", 0))  # the rest were recorded by an earlier attempt
    return len(result.inserted_ids)


def _upsert_operations(documents: list[ProductDocument], change_id: str, now: datetime) -> list[UpdateOne]:
    return [_upsert_operation(doc, change_id, now) for doc in documents]


def _upsert_operation(doc: ProductDocument, change_id: str, now: datetime) -> UpdateOne:
    """The pipeline update of one product: nothing changes when the stored sighting is newer
    (``seen_at``, so a replayed old document never overwrites a new one); otherwise the fields are
    set and a change of price or currency is stamped with ``change_id``."""
    price, currency, seen_at = doc.fields["price"], doc.fields["currency"], doc.fields["seen_at"]
    # Values go through $literal: in a pipeline a string such as "$99 deal" would be a field path.
    values = {name: {"$literal": value} for name, value in doc.fields.items()}
    changed = "$_looqta_changed"
    return UpdateOne(
        {"source": doc.source, "source_id": doc.source_id},
        [
            # Missing and null sort before any date: a new product is always "not newer".
            {"$set": {"_looqta_current": {"$lte": ["$seen_at", {"$literal": seen_at}]}}},
            {
                "$set": {
                    "_looqta_changed": {
                        "$and": [
                            "$_looqta_current",
                            {
                                "$or": [
                                    {"$ne": ["$price", {"$literal": price}]},
                                    {"$ne": ["$currency", {"$literal": currency}]},
                                ]
                            },
                        ]
                    }
                }
            },
            {
                "$replaceWith": {
                    "$cond": [
                        "$_looqta_current",
                        {
                            "$mergeObjects": [
                                "$$ROOT",
                                {
                                    **values,
                                    "created_at": {"$ifNull": ["$created_at", {"$literal": now}]},
                                    "updated_at": {"$literal": now},
                                    "price_change_id": {
                                        "$cond": [changed, {"$literal": change_id}, "$price_change_id"]
                                    },
                                    "price_changed_at": {
                                        "$cond": [changed, {"$literal": seen_at}, "$price_changed_at"]
                                    },
                                },
                            ]
                        },
                        "$$ROOT",
                    ]
                }
            },
            {"$unset": ["_looqta_current", "_looqta_changed"]},
        ],
        upsert=True,
    )
