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
    parse_gtin,
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


@pytest.mark.parametrize(
    ("raw", "gtin"),
    [
        ("4006381333931", "4006381333931"),  # EAN-13
        ("036000291452", "036000291452"),  # UPC-A
        ("96385074", "96385074"),  # EAN-8
        ("4006381-333931", "4006381333931"),
        (4006381333931, "4006381333931"),
        ("4006381333932", None),  # wrong check digit
        ("N12345678A", None),  # noon's SKU is not a GTIN
        ("", None),
        (True, None),
    ],
)
def test_gtin_needs_a_valid_check_digit(raw: object, gtin: str | None) -> None:
    assert parse_gtin(raw) == gtin


def test_noon_reads_brand_model_and_gtin_from_json_ld_with_fallbacks() -> None:
    """schema.org lets brand be an object or a string, and name the GTIN several ways."""
    from looqta.spiders.noon import PRODUCT_FIELDS, PRODUCT_PARSERS

    chains = {name: PRODUCT_FIELDS[name] for name in ("brand", "model", "gtin")}
    page = (
        '<script type="application/ld+json">{"@type": "Product", "brand": "Canon", '
        '"model": {"@type": "ProductModel", "name": "C-EXV50"}, "gtin": "4006381333931"}</script>'
    )
    found = extract(Selector(text=page), "product", chains, PRODUCT_PARSERS)
    assert found.values == {"brand": "Canon", "model": "C-EXV50", "gtin": "4006381333931"}
    assert found.sources == {"brand": "json-ld:brand", "model": "json-ld:model.name", "gtin": "json-ld:gtin"}
    page = '<script type="application/ld+json">{"@type": "Product", "gtin13": "4006381333932"}</script>'
    found = extract(Selector(text=page), "product", chains, PRODUCT_PARSERS)
    assert found.missing == ["brand", "model", "gtin"]  # a bad check digit is no GTIN


def test_xpath_reads_a_row_by_its_label() -> None:
    from looqta.spiders.amazon import PRODUCT_FIELDS, PRODUCT_PARSERS

    page = (
        '<div id="bylineInfo_feature_div"><a id="bylineInfo">Brand: Anker</a></div>'
        '<table class="a-keyvalue prodDetTable"><tr><th class="prodDetSectionEntry"> Mfr Part Number </th>'
        '<td class="prodDetAttrValue"> A1289 </td></tr></table>'
    )
    chains = {name: PRODUCT_FIELDS[name] for name in ("brand", "model")}
    found = extract(Selector(text=page), "product", chains, PRODUCT_PARSERS)
    assert found.values == {"brand": "Anker", "model": "A1289"}
    assert found.sources == {"brand": "bylineInfo", "model": "prodDetTable Mfr Part Number"}
    found = extract(
        Selector(text='<a id="bylineInfo">Visit the Apple Store</a>'), "product", chains, PRODUCT_PARSERS
    )
    assert found.get("brand") == "Apple"
