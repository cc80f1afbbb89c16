"""Every read and write of the store's collections: indexes, bulk upserts, price history, queries.

``products`` holds one document per offer, keyed by the unique index
(``source``, ``source_id``): that index, not any in-memory set, is what keeps two
crawls running at once from leaving two documents for one product.

Each write is one aggregation-pipeline update per item (MongoDB >= 4.2) that,
atomically on the document, compares the stored price and currency with the new
ones and stamps ``price_change_id`` with the batch's change id when they differ
(or when the product is new). ``price_history`` then gets one document per
product carrying that change id, so a price is recorded once per change, even
when two crawls see the same change at the same moment. A pipeline update cannot
use ``$setOnInsert``; ``created_at`` is set with ``$ifNull`` instead, which does
the same thing. (A conditional filter such as ``{price: {$ne: new}}`` would avoid
the pipeline, but SecantusDB then scans the collection: ~70 writes/s.)
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pymongo import ASCENDING, IndexModel, ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError

from looqta.store.documents import FileSet, Operation, ProductDocument, title_words

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from pymongo.asynchronous.database import AsyncDatabase
    from pymongo.collection import Collection

logger = logging.getLogger(__name__)

PRODUCTS = "products"
PRICE_HISTORY = "price_history"
#: Server codes of a unique-index violation (two upserts of one new product racing).
DUPLICATE_KEY_CODES = frozenset({11000, 11001, 12582})
#: How often an upsert that lost an insert race is sent again (it then updates).
DUPLICATE_KEY_ATTEMPTS = 3


@dataclass
class WriteSummary:
    """What one batch did to the store."""

    upserted: int = 0  # new products
    modified: int = 0  # products that existed and were updated
    price_changes: int = 0  # price-history documents recorded
    files_set: int = 0  # products whose file records were set
    files_missing: int = 0  # file records whose product is not in the store
    failed: list[tuple[Operation, str]] = field(default_factory=list)  # refused by the server

    @property
    def written(self) -> int:
        return self.upserted + self.modified


class ProductRepository:
    def __init__(self, database: AsyncDatabase[dict[str, Any]]) -> None:
        self.database = database
        self.products = database[PRODUCTS]
        self.history = database[PRICE_HISTORY]

    async def ensure_indexes(self) -> None:
        await self.products.create_indexes(
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

        Idempotent: sending the same operations again changes ``updated_at`` only.
        Raises pymongo's ``ConnectionFailure`` when the server cannot be reached;
        ``change_id`` then names a write whose price history is still to record
        (:meth:`record_history` is idempotent).
        """
        operations = list(operations)
        summary = await self.upsert(
            [op for op in operations if isinstance(op, ProductDocument)], change_id, now
        )
        await self.set_files([op for op in operations if isinstance(op, FileSet)], summary)
        return summary

    async def set_files(self, file_sets: list[FileSet], summary: WriteSummary) -> None:
        """``$set`` each product's file records (:func:`file_set_update`), in one unordered bulk write."""
        if not file_sets:
            return
        operations = [UpdateOne(*file_set_update(op)) for op in file_sets]
        try:
            details = (await self.products.bulk_write(operations, ordered=False)).bulk_api_result
        except BulkWriteError as error:
            details = error.details
            for write_error in details.get("writeErrors", []):
                summary.failed.append((file_sets[write_error["index"]], str(write_error.get("errmsg"))))
        matched = details.get("nMatched", 0)
        summary.files_set += matched
        summary.files_missing += len(file_sets) - matched - len(details.get("writeErrors", []))

    async def upsert(
        self, documents: Iterable[ProductDocument], change_id: str, now: datetime
    ) -> WriteSummary:
        """Upsert ``documents`` in one unordered bulk write, then record their price changes."""
        summary = WriteSummary()
        pending = list({doc.key: doc for doc in documents}.values())  # the last sighting of a key wins
        for _attempt in range(DUPLICATE_KEY_ATTEMPTS):
            if not pending:
                break
            # Building a few hundred operations takes tens of ms of CPU: off the event loop.
            operations = await asyncio.to_thread(_upsert_operations, pending, change_id, now)
            try:
                result = await self.products.bulk_write(operations, ordered=False)
                details = result.bulk_api_result
                retry: list[ProductDocument] = []
            except BulkWriteError as error:
                details = error.details
                retry = []
                for write_error in details.get("writeErrors", []):
                    doc = pending[write_error["index"]]
                    if write_error.get("code") in DUPLICATE_KEY_CODES:
                        retry.append(doc)  # another process inserted it first: now it is an update
                    else:
                        summary.failed.append((doc, str(write_error.get("errmsg", write_error))))
            summary.upserted += details.get("nUpserted", 0)
            summary.modified += details.get("nMatched", 0)
            pending = retry
        summary.failed += [(doc, "duplicate key error after retries") for doc in pending]
        summary.price_changes = await self.record_history(change_id, now)
        return summary

    async def record_history(self, change_id: str, now: datetime) -> int:
        """Add a ``price_history`` document for each product whose price ``change_id`` changed."""
        changed = self.products.find(
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
        if not entries:
            return 0
        try:
            result = await self.history.insert_many(entries, ordered=False)
        except BulkWriteError as error:
            others = [
                e for e in error.details.get("writeErrors", []) if e.get("code") not in DUPLICATE_KEY_CODES
            ]
            if others:
                raise
            return int(error.details.get("nInserted", 0))  # the rest were recorded by an earlier attempt
        return len(result.inserted_ids)

    async def search(self, words: str, limit: int) -> list[dict[str, Any]]:
        """The cheapest offers whose title holds every word of ``words``, cheapest first."""
        wanted = title_words(words)
        if not wanted:
            raise ValueError(f"nothing to search for in {words!r}: give at least one word")
        cursor = (
            self.products.find({"title_words": {"$all": wanted}}, {"_id": 0, "title_words": 0, "files": 0})
            .sort([("price", ASCENDING), ("source", ASCENDING), ("source_id", ASCENDING)])
            .limit(limit)
        )
        return [doc async for doc in cursor]

    async def product(self, source: str, source_id: str) -> dict[str, Any] | None:
        return await self.products.find_one({"source": source, "source_id": source_id}, {"_id": 0})

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


def set_files_now(products: Collection[dict[str, Any]], op: FileSet) -> dict[str, Any] | None:
    """A file worker's own write (synchronous pymongo): :func:`file_set_update` on one product;
    the product's ``files`` and ``seen_at`` as they were before, or None when there is none."""
    before: dict[str, Any] | None = products.find_one_and_update(
        *file_set_update(op),
        projection={"_id": 0, "files": 1, "seen_at": 1},
        return_document=ReturnDocument.BEFORE,
    )
    return before


def _upsert_operations(documents: list[ProductDocument], change_id: str, now: datetime) -> list[UpdateOne]:
    return [_upsert_operation(doc, change_id, now) for doc in documents]


def _upsert_operation(doc: ProductDocument, change_id: str, now: datetime) -> UpdateOne:
    price, currency = doc.fields["price"], doc.fields["currency"]
    # Values go through $literal: in a pipeline a string such as "$99 deal" would be a field path.
    values = {name: {"$literal": value} for name, value in doc.fields.items()}
    return UpdateOne(
        {"source": doc.source, "source_id": doc.source_id},
        [
            {
                "$set": {
                    "_price_changed": {
                        "$or": [
                            {"$ne": ["$price", {"$literal": price}]},
                            {"$ne": ["$currency", {"$literal": currency}]},
                        ]
                    }
                }
            },
            {
                "$set": {
                    **values,
                    "created_at": {"$ifNull": ["$created_at", {"$literal": now}]},
                    "updated_at": {"$literal": now},
                    "price_change_id": {
                        "$cond": ["$_price_changed", {"$literal": change_id}, "$price_change_id"]
                    },
                    "price_changed_at": {
                        "$cond": ["$_price_changed", {"$literal": doc.fields["seen_at"]}, "$price_changed_at"]
                    },
                }
            },
            {"$unset": "_price_changed"},
        ],
        upsert=True,
    )
