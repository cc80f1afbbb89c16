"""Store errors sorted by kind (looqta.store.faults): pure checks, no server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from itemadapter import ItemAdapter
from mongo_fixtures import make_item
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    DocumentTooLarge,
    ExecutionTimeout,
    NetworkTimeout,
    NotPrimaryError,
    OperationFailure,
    ServerSelectionTimeoutError,
    WTimeoutError,
)

from looqta.store.documents import ProductDocument, to_document
from looqta.store.faults import (
    DEAD_LETTER_MAX_DOCUMENT_BYTES,
    Refusal,
    dead_letter,
    is_permanent_command_error,
    is_product_key_duplicate,
    is_transient,
    reason_for,
    refusal_from_error,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def doc(number: int, **overrides: object) -> ProductDocument:
    return to_document(
        ItemAdapter(make_item(number, **overrides)), max_field_bytes=1000, max_document_bytes=10_000
    )


def bulk_error(*write_errors: dict[str, object], concern: bool = False) -> BulkWriteError:
    details = {"writeErrors": list(write_errors), "writeConcernErrors": [{"code": 64}] if concern else []}
    return BulkWriteError(details)


@pytest.mark.parametrize(
    "error",
    [
        AutoReconnect("connection closed"),
        NetworkTimeout("timed out"),
        ServerSelectionTimeoutError("no primary"),
        NotPrimaryError("not primary", {"code": 10107}),
        ExecutionTimeout("time limit", code=50),
        WTimeoutError("wtimeout", code=64),
        OperationFailure("not writable primary", code=10107),
        OperationFailure("interrupted at shutdown", code=11600),
        OperationFailure("primary stepped down", code=189),
        OperationFailure("anything", code=999_999, details={"errorLabels": ["RetryableWriteError"]}),
        bulk_error({"index": 0, "code": 11600, "errmsg": "interrupted at shutdown"}),
        bulk_error(concern=True),
    ],
    ids=repr,
)
def test_transient_errors_are_retried(error: Exception) -> None:
    assert is_transient(error)
    assert not is_permanent_command_error(error)


@pytest.mark.parametrize(
    ("error", "split"),
    [
        (bulk_error({"index": 0, "code": 121, "errmsg": "Document failed validation"}), False),
        (OperationFailure("Document failed validation", code=121), True),
        (OperationFailure("object to insert too large", code=10334), True),
        (DocumentTooLarge("BSON document too large (17000000 bytes)"), True),
    ],
    ids=repr,
)
def test_permanent_errors_are_not_retried(error: Exception, split: bool) -> None:
    assert not is_transient(error)
    assert is_permanent_command_error(error) is split  # a whole command refused: the batch is split


def test_an_unknown_whole_command_failure_is_not_a_reason_to_dead_letter_a_batch() -> None:
    assert not is_permanent_command_error(OperationFailure("something new", code=424242))
    assert not is_permanent_command_error(OperationFailure("malformed command", code=2))


def test_reasons_and_the_product_key_duplicate() -> None:
    assert reason_for(121) == "validation"
    assert reason_for(10334) == "too_large"
    assert reason_for(2, "object to insert too large") == "too_large"
    assert reason_for(11000) == "duplicate_key"
    assert reason_for(2, "bad value") == "write_error"
    ours = {
        "code": 11000,
        "errmsg": "E11000 duplicate key error collection: d.offers index: product_key dup",
    }
    other = {"code": 11000, "errmsg": "E11000 duplicate key error collection: d.offers index: url_1 dup"}
    assert is_product_key_duplicate(ours)
    assert not is_product_key_duplicate(other)
    assert is_product_key_duplicate({"code": 11000, "keyPattern": {"source": 1, "source_id": 1}})
    assert not is_product_key_duplicate({"code": 11000, "keyPattern": {"url": 1}})


def test_a_dead_letter_is_one_per_refused_document_and_keeps_what_it_can() -> None:
    refusal = Refusal(doc(1), "validation", 121, "Document failed validation")
    first, again = dead_letter(refusal, "offers", T0), dead_letter(refusal, "offers", T0)
    assert first["_id"] == again["_id"]  # the same refusal retried: one dead letter
    assert first["_id"] != dead_letter(Refusal(doc(2), "validation", 121, ""), "offers", T0)["_id"]
    assert first["document"]["source_id"] == "B000000001"
    assert (first["reason"], first["code"], first["job"], first["at"]) == ("validation", 121, "bulk", T0)
    huge = ProductDocument("amazon", "B1", {"source": "amazon", "source_id": "B1", "title": "x" * 17_000_000})
    letter = dead_letter(refusal_from_error(huge, DocumentTooLarge("too large")), "offers", T0)
    assert (letter["reason"], letter["document"], letter["source_id"]) == ("too_large", None, "B1")
    assert letter["document_bytes"] > DEAD_LETTER_MAX_DOCUMENT_BYTES
