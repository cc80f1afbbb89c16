"""Sort the store's errors by kind: *transient* (wait and retry) or *permanent* (dead-letter the document).

Pure functions over pymongo's exceptions and the server's write errors; the writer and the
repository act on the answer. The rule, with the reasons, is in docs/store.md ("Errors by kind").
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import bson
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DocumentTooLarge,
    ExecutionTimeout,
    InvalidDocument,
    OperationFailure,
    WTimeoutError,
)

from looqta.store.documents import Operation

if TYPE_CHECKING:
    from datetime import datetime

#: Server codes that mean "not now": the store is there but cannot take the write at this moment.
TRANSIENT_CODES = frozenset(
    {
        6,  # HostUnreachable
        7,  # HostNotFound
        13,  # Unauthorized: a lost privilege is an operator's fix, not a bad document
        18,  # AuthenticationFailed
        24,  # LockTimeout
        50,  # MaxTimeMSExpired
        64,  # WriteConcernFailed (wtimeout)
        89,  # NetworkTimeout
        91,  # ShutdownInProgress
        112,  # WriteConflict
        133,  # FailedToSatisfyReadPreference (no primary)
        189,  # PrimarySteppedDown
        262,  # ExceededTimeLimit
        9001,  # SocketException
        10107,  # NotWritablePrimary
        11600,  # InterruptedAtShutdown
        11602,  # InterruptedDueToReplStateChange
        13435,  # NotPrimaryNoSecondaryOk
        13436,  # NotPrimaryOrSecondary
    }
)
_TRANSIENT_LABELS = ("RetryableWriteError", "TransientTransactionError", "NoWritesPerformed")
#: Server codes of a unique-index violation.
DUPLICATE_KEY_CODES = frozenset({11000, 11001, 12582})
VALIDATION_CODES = frozenset({121})  # DocumentValidationFailure
TOO_LARGE_CODES = frozenset({10334, 17419, 17420})  # BSONObjectTooLarge, document grew too large
#: Whole-command failures that say "this content, never": the batch is split to find the document.
PERMANENT_COMMAND_CODES = frozenset({121, 10334, 17419, 17420})
#: A dead letter keeps the refused document up to this size; larger ones keep their size and key only.
DEAD_LETTER_MAX_DOCUMENT_BYTES = 256 * 1024
_MAX_MESSAGE_CHARS = 2000


@dataclass(frozen=True)
class Refusal:
    """One document the store refused for good, and why (``reason`` is stat-friendly)."""

    operation: Operation
    reason: str
    code: int | None
    message: str


def is_transient(error: BaseException) -> bool:
    """True when ``error`` says the store cannot take writes now (spool, back off, retry the same batch)."""
    if isinstance(error, ConnectionFailure | ExecutionTimeout | WTimeoutError):
        return True
    if not isinstance(error, OperationFailure):
        return False
    if any(error.has_error_label(label) for label in _TRANSIENT_LABELS):
        return True
    if isinstance(error, BulkWriteError):
        details = error.details or {}
        return bool(details.get("writeConcernErrors")) or any(
            write_error.get("code") in TRANSIENT_CODES for write_error in details.get("writeErrors", [])
        )
    return error.code in TRANSIENT_CODES


def is_permanent_command_error(error: BaseException) -> bool:
    """True when a whole write command failed for its content (the batch is split to find which document).

    Any other failure of a whole command, an unknown code included, is treated as transient: a
    misconfigured store must not dead-letter a whole crawl.
    """
    if isinstance(error, InvalidDocument):  # DocumentTooLarge included: the client refused before sending
        return True
    return (
        isinstance(error, OperationFailure)
        and not isinstance(error, BulkWriteError)
        and (error.code in PERMANENT_COMMAND_CODES)
    )


def is_product_key_duplicate(write_error: dict[str, Any]) -> bool:
    """A duplicate on the product key (an insert race, retried as an update), not on another index."""
    if write_error.get("code") not in DUPLICATE_KEY_CODES:
        return False
    pattern = write_error.get("keyPattern")
    if pattern is not None:
        return set(pattern) == {"source", "source_id"}
    return "index: product_key " in str(write_error.get("errmsg", ""))


def reason_for(code: int | None, message: str = "") -> str:
    """A refusal's reason: ``validation``, ``too_large``, ``duplicate_key`` or ``write_error``."""
    if code in VALIDATION_CODES:
        return "validation"
    if code in TOO_LARGE_CODES or (code == 2 and "too large" in message.lower()):
        return "too_large"
    if code in DUPLICATE_KEY_CODES:
        return "duplicate_key"
    return "write_error"


def refusal_from_write_error(operation: Operation, write_error: dict[str, Any]) -> Refusal:
    message = str(write_error.get("errmsg", write_error))
    code = write_error.get("code")
    return Refusal(operation, reason_for(code, message), code, message[:_MAX_MESSAGE_CHARS])


def refusal_from_error(operation: Operation, error: BaseException) -> Refusal:
    """A refusal from a whole-command error on a batch of one (``is_permanent_command_error``)."""
    if isinstance(error, DocumentTooLarge):
        return Refusal(operation, "too_large", None, str(error)[:_MAX_MESSAGE_CHARS])
    if isinstance(error, InvalidDocument):
        return Refusal(operation, "invalid_document", None, str(error)[:_MAX_MESSAGE_CHARS])
    code = getattr(error, "code", None)
    return Refusal(operation, reason_for(code, str(error)), code, str(error)[:_MAX_MESSAGE_CHARS])


def dead_letter(refusal: Refusal, collection: str, now: datetime) -> dict[str, Any]:
    """The ``dead_letters`` document of a refusal.

    Its ``_id`` is a digest of the refused operation, so a batch retried after a transient
    failure leaves one dead letter per refused document, not one per attempt.
    """
    operation = refusal.operation
    try:
        data = operation.to_bson()
    except InvalidDocument:
        data = b""
    kept = bool(data) and len(data) <= DEAD_LETTER_MAX_DOCUMENT_BYTES
    return {
        "_id": hashlib.sha256(collection.encode() + b"\0" + refusal.reason.encode() + data).hexdigest(),
        "collection": collection,
        "source": operation.source,
        "source_id": operation.source_id,
        "document": bson.decode(data) if kept else None,
        "document_bytes": len(data),
        "reason": refusal.reason,
        "code": refusal.code,
        "message": refusal.message,
        "job": _job(operation),
        "at": now,
    }


def _job(operation: Operation) -> str | None:
    fields = getattr(operation, "fields", None)
    return None if fields is None else fields.get("job")
