"""The file pool's DB update for the store: an item's file records into its product document.

Two sides, one module (the store is reached through ``looqta.store`` only):

* in the crawl, :class:`~looqta.pipelines.files.FilesPipeline` calls :func:`resolve_target` once
  (``MONGO_URI``, or the embedded server's address) and, per item, :func:`carried_document`: the
  product document the store pipeline would write, which rides in the queue with the item's
  batch, so that the DB update can write the product even if the item never reaches the store;
* in a file worker, :func:`update_product_files` (a :class:`~looqta.files.work.DbUpdater`; the
  default ``LOOQTA_FILES_DB_UPDATE`` when the store pipeline is enabled) writes the records.

What :func:`update_product_files` does, by what it finds under the item's (source, source_id):

* a document: ``$set`` of ``files``, unless that document was seen later than this item (a newer
  crawl stored the product since: its records are newer too, and stay);
* none, and the batch carries the item's document: the document is written as the store would
  write it (same upsert, first price recorded in ``price_history``), with ``files`` set. This is
  the crawl that died while the item waited for its files: the item is not lost;
* none, and nothing carried (a batch queued before this existed, or an item the store refuses):
  nothing is written; the task's result says ``missing`` and the records stay in the queue.

Synchronous pymongo, one short-lived client per call: workers are plain processes, a DB update
runs once per item, and a client per process would outlive the crawl that started the pool.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bson import json_util
from pymongo import ASCENDING, MongoClient, ReturnDocument
from pymongo.errors import ConnectionFailure, DuplicateKeyError, OperationFailure

from looqta.files.checks import FileRejected
from looqta.files.config import DbTarget
from looqta.files.work import DbUnavailable
from looqta.store.config import BSON_MAX_DOCUMENT_BYTES
from looqta.store.connection import describe
from looqta.store.documents import ProductDocument, RejectedItem, file_records, to_document
from looqta.store.embedded import ensure_server
from looqta.store.repository import PRICE_HISTORY, PRODUCTS

if TYPE_CHECKING:
    from itemadapter import ItemAdapter
    from pymongo.database import Database

    from looqta.files.work import DbUpdate
    from looqta.store.config import StoreConfig

#: The :class:`~looqta.files.work.DbUpdater` the files pipeline names when the store is enabled.
UPDATER = "looqta.store.files_update.update_product_files"
#: Prefix of the price change id of a product this module wrote first (its first price is
#: recorded here, and again on a later update should a crash have come in between).
CHANGE_ID_PREFIX = "files-"
#: Server error codes meaning "not now" (shutting down, stepping down, interrupted, not primary)
#: or "not with these credentials": the update is worth trying again in a later run.
UNAVAILABLE_CODES = frozenset({6, 7, 13, 18, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436})
_JSON_OPTIONS = json_util.JSONOptions(json_mode=json_util.JSONMode.CANONICAL, tz_aware=True, tzinfo=UTC)


# the crawl's side ------------------------------------------------------------------------------


def resolve_target(config: StoreConfig) -> DbTarget:
    """Where this crawl's store is: ``MONGO_URI``, or the embedded server (started if need be).

    Blocking: call it from a thread.
    """
    if config.embedded:
        uri = ensure_server(config.data_dir, config.server_start_timeout_seconds).uri
    else:
        uri = config.uri
    return DbTarget(uri, config.database, config.connect_timeout_seconds, config.write_timeout_seconds)


def carried_document(adapter: ItemAdapter, config: StoreConfig) -> dict[str, Any] | None:
    """The product document the store would write for the item, as plain JSON values (MongoDB
    canonical extended JSON: exact decimals and dates), or None when the store would refuse it."""
    try:
        document = to_document(
            adapter, max_field_bytes=config.max_field_bytes, max_document_bytes=config.max_document_bytes
        )
    except RejectedItem:
        return None
    carried: dict[str, Any] = json.loads(json_util.dumps(document.fields, json_options=_JSON_OPTIONS))
    return carried


# the worker's side -----------------------------------------------------------------------------


def update_product_files(update: DbUpdate) -> dict[str, Any]:
    """Write an item's file records into its product document (see the module's docstring).

    Returns ``{"action": "updated" | "unchanged" | "kept_newer" | "inserted" | "missing"}``.
    Raises :class:`~looqta.files.work.DbUnavailable` when the store cannot be reached, and
    :class:`~looqta.files.checks.FileRejected` when the store would refuse the records.
    """
    if update.target is None:
        raise ValueError("no store to update (LOOQTA_STORE_ENABLED is off)")
    document = _document(update.item)
    source, source_id = document.key if document else _key(update.item_key)
    try:
        files = file_records(update.files, BSON_MAX_DOCUMENT_BYTES)
    except RejectedItem as rejected:
        raise FileRejected("store_rejected", str(rejected)) from None
    now = datetime.now(UTC)
    target = update.target
    try:
        with _client(target) as client:
            database = client[target.database]
            action = _set_files(database, source, source_id, files, document, now)
    except ConnectionFailure as error:
        raise DbUnavailable(describe(error)) from error
    except OperationFailure as error:
        if error.code in UNAVAILABLE_CODES or error.has_error_label("RetryableWriteError"):
            raise DbUnavailable(describe(error)) from error
        raise  # a refusal: retried a few times, then the task fails with the server's reason
    return {"action": action}


def _document(item: dict[str, Any] | None) -> ProductDocument | None:
    if item is None:
        return None
    fields = json_util.loads(json.dumps(item), json_options=_JSON_OPTIONS)
    return ProductDocument(fields["source"], fields["source_id"], fields)


def _key(item_key: str) -> tuple[str, str]:
    source, _, source_id = item_key.partition(":")
    return source, source_id


def _client(target: DbTarget) -> MongoClient[dict[str, Any]]:
    return MongoClient(
        target.uri,
        serverSelectionTimeoutMS=int(target.connect_timeout_seconds * 1000),
        connectTimeoutMS=int(target.connect_timeout_seconds * 1000),
        socketTimeoutMS=int(target.write_timeout_seconds * 1000),
        tz_aware=True,
        appname="looqta-files",
    )


def _set_files(
    database: Database[dict[str, Any]],
    source: str,
    source_id: str,
    files: list[dict[str, Any]],
    document: ProductDocument | None,
    now: datetime,
) -> str:
    before = _update_files(database, source, source_id, files, document)
    if before is None and document is not None:
        try:
            _insert(database, ProductDocument(source, source_id, {**document.fields, "files": files}), now)
        except DuplicateKeyError:  # the store pipeline inserted it a moment ago: update that one
            before = _update_files(database, source, source_id, files, document)
        else:
            return "inserted"
    if before is None:
        return "missing"
    change_id = before.get("price_change_id")
    if isinstance(change_id, str) and change_id.startswith(CHANGE_ID_PREFIX):
        _record_first_price(database, source, source_id, change_id, now)  # in case a crash came between
    seen_at = None if document is None else document.fields.get("seen_at")
    if seen_at is not None and before.get("seen_at") is not None and before["seen_at"] > seen_at:
        return "kept_newer"
    return "unchanged" if before.get("files") == files else "updated"


def _update_files(
    database: Database[dict[str, Any]],
    source: str,
    source_id: str,
    files: list[dict[str, Any]],
    document: ProductDocument | None,
) -> dict[str, Any] | None:
    """Set ``files`` on the product, unless it was seen later than ``document``; the product as
    it was before (the fields this module reads), or None when there is no such product."""
    value: Any = {"$literal": files}
    seen_at = None if document is None else document.fields.get("seen_at")
    if seen_at is not None:
        value = {"$cond": [{"$gt": ["$seen_at", {"$literal": seen_at}]}, "$files", value]}
    before: dict[str, Any] | None = database[PRODUCTS].find_one_and_update(
        {"source": source, "source_id": source_id},
        [{"$set": {"files": value}}],
        projection={"_id": 0, "files": 1, "seen_at": 1, "price_change_id": 1},
        return_document=ReturnDocument.BEFORE,
    )
    return before


def _insert(database: Database[dict[str, Any]], document: ProductDocument, now: datetime) -> None:
    """Write a product the store has not seen, with the fields the store's upsert gives a new
    product (``looqta.store.repository``), and record its first price. Raises
    ``DuplicateKeyError`` when the product appeared meanwhile."""
    products = database[PRODUCTS]
    # The store pipeline creates this index when it starts; a resumed task may run before it.
    products.create_index([("source", ASCENDING), ("source_id", ASCENDING)], unique=True, name="product_key")
    change_id = f"{CHANGE_ID_PREFIX}{uuid.uuid4().hex}"
    products.insert_one(
        {
            **document.fields,
            "created_at": now,
            "updated_at": now,
            "price_change_id": change_id,
            "price_changed_at": document.fields["seen_at"],
        }
    )
    _record_first_price(database, document.source, document.source_id, change_id, now)


def _record_first_price(
    database: Database[dict[str, Any]], source: str, source_id: str, change_id: str, now: datetime
) -> None:
    """The ``price_history`` entry of ``change_id`` for one product, unless it is there already."""
    product = database[PRODUCTS].find_one(
        {"source": source, "source_id": source_id, "price_change_id": change_id},
        {"_id": 0, "price": 1, "currency": 1, "price_changed_at": 1},
    )
    if product is None:  # another write changed the price since, and recorded it
        return
    entry = {
        "_id": {"change_id": change_id, "source": source, "source_id": source_id},
        "source": source,
        "source_id": source_id,
        "price": product["price"],
        "currency": product["currency"],
        "seen_at": product.get("price_changed_at"),
        "recorded_at": now,
    }
    try:
        database[PRICE_HISTORY].insert_one(entry)
    except DuplicateKeyError:
        return  # recorded by an earlier attempt
