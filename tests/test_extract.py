"""Fields read through ordered fallbacks, and the parsers that turn page text into values."""

from __future__ import annotations

from decimal import Decimal

import pytest
from parsel import Selector
from scrapy.utils.test import get_crawler

from looqta.extract import (
    Source,
    css,
    extract,
    json_ld_product,
    ld,
    parse_abbreviated_count,
    parse_count,
    parse_currency,
    parse_price,
    parse_rating,
    value,
)


@pytest.mark.parametrize(
    ("text", "price", "currency"),
    [
        ("AED 1,299.00", Decimal("1299.00"), "AED"),
        ("AED1,299.00", Decimal("1299.00"), "AED"),
        ("AED\xa01,299.50", Decimal("1299.50"), "AED"),
        ("8,999", Decimal("8999.00"), None),
        ("\ue9008,999", Decimal("8999.00"), None),  # noon's dirham glyph names no currency
        ("N/A", None, None),
        ("0", None, None),  # noon's JSON-LD marks out of stock with price 0
    ],
)
def test_price_and_currency(text: str, price: Decimal | None, currency: str | None) -> None:
    assert parse_price(text) == price
    assert parse_currency(text) == currency


def test_counts_and_ratings() -> None:
    assert parse_count("1,234 ratings") == 1234
    assert parse_count("(226)") == 226
    assert parse_count("(1.2K)") is None  # not exact: the next fallback must answer
    assert parse_abbreviated_count("(1.2K)") == 1200
    assert parse_abbreviated_count("4.3K") == 4300
    assert parse_rating("4.5 out of 5 stars") == Decimal("4.5")
    assert parse_rating("4.5 out of 5 stars, rating details") == Decimal("4.5")
    assert parse_rating(7) is None


def test_first_usable_fallback_wins_and_is_recorded() -> None:
    card = Selector(text='<div data-asin="B0AAAAAAAA"><h2 aria-label="Sponsored Ad - Phone"></h2></div>')
    chains = {
        "source_id": (css("::attr(data-missing)", "missing"), css("div::attr(data-asin)", "data-asin")),
        "title": (css("h2 span::text", "span"), css("h2::attr(aria-label)", "aria")),
        "currency": (css(".price::text", "text"), value("AED", "site")),
        "price": (css(".price::text", "text"),),
    }
    found = extract(card, "search", chains, {"price": parse_price})
    assert found.values == {"source_id": "B0AAAAAAAA", "title": "Sponsored Ad - Phone", "currency": "AED"}
    assert found.sources == {"source_id": "data-asin", "title": "aria", "currency": "site"}
    assert found.missing == ["price"]
    crawler = get_crawler()
    crawler.stats.open_spider()
    found.count_into(crawler.stats)
    assert crawler.stats.get_value("looqta/fields/search/title/aria") == 1
    assert crawler.stats.get_value("looqta/fields/search/price/missing") == 1


def test_json_ld_product_is_found_among_other_blocks() -> None:
    page = Selector(
        text='<script type="application/ld+json">{"@type": "BreadcrumbList"}</script>'
        '<script type="application/ld+json">not json</script>'
        '<script type="application/ld+json">{"@graph": [{"@type": "Product", "name": "X",'
        ' "offers": {"price": 12.5, "priceCurrency": "AED"}}]}</script>'
    )
    assert json_ld_product(page) == {
        "@type": "Product",
        "name": "X",
        "offers": {"price": 12.5, "priceCurrency": "AED"},
    }
    assert ld("offers", "price").read(Source(page)) == 12.5
    listed = Selector(
        text='<script type="application/ld+json">{"@type": "Product", "offers": [{"price": 3}]}</script>'
    )
    assert ld("offers", "price").read(Source(listed)) == 3  # offers as a list: its first entry
