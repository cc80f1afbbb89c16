from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from bson.decimal128 import Decimal128
from itemadapter import ItemAdapter
from mongo_fixtures import make_item

from looqta.store.documents import ProductDocument, RejectedItem, decode_operation, title_words, to_document

LIMITS = {"max_field_bytes": 1000, "max_document_bytes": 20_000}


def document(**overrides: Any) -> ProductDocument:
    return to_document(ItemAdapter(make_item(1, **overrides)), **LIMITS)


def test_a_good_item_becomes_a_bson_ready_document() -> None:
    doc = document(price=Decimal("1299.50"), files=[{"url": "u", "checksum": "c", "thumbs": {"small": "p"}}])
    assert doc.key == ("amazon", "B000000001")
    assert doc.fields["price"] == Decimal128("1299.50")
    assert doc.fields["seen_at"] == datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert doc.fields["title_words"] == ["apple", "iphone", "12", "1"]
    assert doc.fields["files"] == [{"url": "u", "checksum": "c", "thumbs": {"small": "p"}}]
    assert decode_operation(doc.to_bson()) == doc


def test_title_words_fold_case_and_drop_punctuation() -> None:
    assert title_words("Apple iPhone 15 Pro-Max, 256GB (Blue) — iPhone") == [
        "apple",
        "iphone",
        "15",
        "pro",
        "max",
        "256gb",
        "blue",
    ]


def test_missing_scraped_at_takes_now() -> None:
    now = datetime(2026, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    doc = to_document(ItemAdapter(make_item(1, scraped_at=None)), now=now, **LIMITS)
    assert doc.fields["seen_at"] == now.replace(microsecond=123000)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"price": Decimal("NaN")}, "nonfinite_price"),
        ({"price": Decimal("Infinity")}, "nonfinite_price"),
        ({"price": float("inf")}, "nonfinite_price"),
        ({"price": None}, "missing_price"),
        ({"price": Decimal("-1")}, "negative_price"),
        ({"price": True}, "bad_type_price"),
        ({"price": "cheap"}, "bad_type_price"),
        ({"rating": Decimal("NaN")}, "nonfinite_rating"),
        ({"title": 42}, "bad_type_title"),
        ({"title": ["Apple"]}, "bad_type_title"),
        ({"title": ""}, "missing_title"),
        ({"title": "x" * 1001}, "oversize_title"),
        ({"title": "é" * 501}, "oversize_title"),  # 1002 bytes in UTF-8
        ({"url": "http://x/\x00"}, "bad_value_url"),
        ({"source_id": None}, "missing_source_id"),
        ({"review_count": 1.5}, "bad_type_review_count"),
        ({"image_urls": "http://x/a.jpg"}, "bad_type_image_urls"),
        ({"image_urls": ["u" * 1001]}, "oversize_image_urls"),
        ({"files": [{"$set": 1}]}, "bad_value_files"),
        ({"files": [{"size": float("nan")}]}, "bad_value_files"),
        ({"files": [{"when": datetime.now(UTC)}]}, "bad_type_files"),
        ({"scraped_at": "yesterday"}, "bad_value_scraped_at"),
        ({"scraped_at": "2026-01-02T03:04:05"}, "bad_value_scraped_at"),
        ({"image_urls": ["u" * 900] * 30}, "oversize_document"),
    ],
)
def test_bad_items_are_rejected_with_a_reason(overrides: dict[str, Any], reason: str) -> None:
    with pytest.raises(RejectedItem) as caught:
        document(**overrides)
    assert caught.value.reason == reason


def test_brand_gtin_and_model_are_kept_when_given_and_absent_otherwise() -> None:
    given = {
        **ItemAdapter(make_item(1)).asdict(),
        "brand": "Apple",
        "gtin": "0195949038488",
        "model": "MTP03AH/A",
    }
    doc = to_document(ItemAdapter(given), **LIMITS)
    assert (doc.fields["brand"], doc.fields["gtin"], doc.fields["model"]) == (
        "Apple",
        "0195949038488",
        "MTP03AH/A",
    )
    plain = document()  # a ProductItem without them, or a spider that did not find them
    assert not {"brand", "gtin", "model"} & set(plain.fields)
    with pytest.raises(RejectedItem, match="bad_type_gtin"):
        to_document(ItemAdapter({**given, "gtin": 195949038488}), **LIMITS)
