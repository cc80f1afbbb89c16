from __future__ import annotations

from decimal import Decimal

import pytest
from scrapy.exceptions import DropItem
from scrapy.utils.test import get_crawler

from looqta.items import ProductItem
from looqta.pipelines.validate import ValidationPipeline


def good_item(**overrides: object) -> ProductItem:
    fields: dict[str, object] = {
        "source": "amazon",
        "source_id": "B0TEST0001",
        "title": "Apple iPhone 15",
        "price": Decimal("1299.00"),
        "currency": "AED",
        "url": "http://127.0.0.1/dp/B0TEST0001",
        **overrides,
    }
    return ProductItem(**fields)  # type: ignore[arg-type]


@pytest.fixture
def pipeline() -> ValidationPipeline:
    crawler = get_crawler()
    crawler.stats.open_spider()
    return ValidationPipeline.from_crawler(crawler)


def test_good_item_passes(pipeline: ValidationPipeline) -> None:
    item = good_item()
    assert pipeline.process_item(item) is item
    assert pipeline.stats.get_value("looqta/validate/ok") == 1


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"price": None}, "missing_price"),
        ({"title": ""}, "missing_title"),
        ({"price": Decimal("NaN")}, "bad_price"),
        ({"price": Decimal("-1")}, "bad_price"),
        ({"rating": Decimal("7")}, "bad_rating"),
    ],
)
def test_bad_item_dropped_with_reason_and_stat(
    pipeline: ValidationPipeline, overrides: dict[str, object], reason: str
) -> None:
    with pytest.raises(DropItem, match=reason):
        pipeline.process_item(good_item(**overrides))
    assert pipeline.stats.get_value(f"looqta/validate/dropped/{reason}") == 1
    assert pipeline.stats.get_value("looqta/validate/dropped") == 1
