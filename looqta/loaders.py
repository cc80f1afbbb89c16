"""Item loaders: turn the text a page shows into typed item values."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from itemloaders.processors import Identity, MapCompose, TakeFirst
from price_parser import Price
from scrapy.loader import ItemLoader

from looqta.items import ProductItem

_DIGITS = re.compile(r"\d[\d,]*")
_RATING = re.compile(r"(\d+(?:\.\d+)?)")


def parse_price(text: str) -> Decimal | None:
    """``"AED\xa01,299.00"`` -> ``Decimal("1299.00")``; None when no amount is shown."""
    return Price.fromstring(text).amount


def parse_currency(text: str) -> str | None:
    """``"AED\xa01,299.00"`` -> ``"AED"``; None when the text names no currency."""
    currency = Price.fromstring(text).currency
    return currency.strip() if currency else None


def parse_rating(text: str) -> Decimal | None:
    """``"4.3 out of 5 stars"`` -> ``Decimal("4.3")``."""
    match = _RATING.search(text)
    if not match:
        return None
    try:
        value = Decimal(match.group(1))
    except InvalidOperation:
        return None
    return value if Decimal(0) <= value <= Decimal(5) else None


def parse_count(text: str | int) -> int | None:
    """``"1,234 ratings"`` or ``"(1,234)"`` -> ``1234``; an int is kept as it is."""
    if isinstance(text, int):
        return text
    match = _DIGITS.search(text)
    return int(match.group(0).replace(",", "")) if match else None


def strip(text: Any) -> Any:
    """Fold white space in text; values that are not text pass through."""
    if not isinstance(text, str):
        return text
    text = " ".join(text.split())
    return text or None


class ProductLoader(ItemLoader):
    default_item_class = ProductItem
    default_input_processor = MapCompose(strip)
    default_output_processor = TakeFirst()

    price_in = MapCompose(strip, parse_price)
    currency_in = MapCompose(strip, parse_currency)
    rating_in = MapCompose(strip, parse_rating)
    review_count_in = MapCompose(strip, parse_count)
    image_urls_out = Identity()
    file_urls_out = Identity()
