"""A file worker's own write of file records: for batches whose item is gone.

An item waiting in the crawl gets its records through the store writer (``looqta.store.sink``).
A batch adopted from a crawl that died has no item left; the file pool then calls
:func:`write_file_records` in a worker process, named to it by :class:`~looqta.records.WorkerStore`.
It applies the writer's ``$set`` through the repository (:func:`~looqta.store.repository.set_files_now`)
and never inserts a product: the product was written first, by the store writer, or not at all.

Synchronous pymongo, one short-lived client per call: workers are plain processes, and a client
per process would outlive the crawl that started the pool.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pymongo import MongoClient
from pymongo.errors import ConnectionFailure, OperationFailure

from looqta.records import KEPT_NEWER, MISSING, UNCHANGED, UPDATED, RecordsRefused, StoreUnavailable
from looqta.store.config import BSON_MAX_DOCUMENT_BYTES
from looqta.store.connection import describe
from looqta.store.documents import RejectedItem, file_set
from looqta.store.repository import OFFERS, set_files_now

if TYPE_CHECKING:
    from looqta.records import FileResults, WorkerStore

#: The :class:`~looqta.records.WorkerWrite` the store names to the file pool.
WRITE_FUNCTION = "looqta.store.files_update.write_file_records"
#: Server error codes meaning "not now" (shutting down, stepping down, interrupted, not primary)
#: or "not with these credentials": the write is worth trying again in a later run.
UNAVAILABLE_CODES = frozenset({6, 7, 13, 18, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436})


def write_file_records(store: WorkerStore, results: FileResults) -> str:
    """Set ``results`` on their product; one of the outcomes in :mod:`looqta.records`.

    Raises :class:`~looqta.records.StoreUnavailable` when the store cannot be reached, and
    :class:`~looqta.records.RecordsRefused` when it would refuse the records.
    """
    try:
        operation = file_set(results, BSON_MAX_DOCUMENT_BYTES)
    except RejectedItem as rejected:
        raise RecordsRefused("store_rejected", str(rejected)) from None
    try:
        with _client(store) as client:
            before = set_files_now(client[store.database][OFFERS], operation)
    except ConnectionFailure as error:
        raise StoreUnavailable(describe(error)) from None
    except OperationFailure as error:
        if error.code in UNAVAILABLE_CODES:
            raise StoreUnavailable(describe(error)) from None
        raise RecordsRefused("store_rejected", describe(error)) from None
    if before is None:
        return MISSING
    stored_seen_at = before.get("seen_at")
    if operation.seen_at is not None and stored_seen_at is not None and stored_seen_at > operation.seen_at:
        return KEPT_NEWER
    return UNCHANGED if before.get("files") == operation.files else UPDATED


def _client(store: WorkerStore) -> MongoClient[dict[str, Any]]:
    return MongoClient(
        store.uri,
        serverSelectionTimeoutMS=int(store.connect_timeout_seconds * 1000),
        connectTimeoutMS=int(store.connect_timeout_seconds * 1000),
        socketTimeoutMS=int(store.write_timeout_seconds * 1000),
        tz_aware=True,
        appname="looqta-files",
    )
