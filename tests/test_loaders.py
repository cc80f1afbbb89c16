from __future__ import annotations

from decimal import Decimal

import pytest
from scrapy.http import HtmlResponse

from looqta.loaders import ProductLoader, parse_count, parse_currency, parse_price, parse_rating


@pytest.mark.parametrize(
    ("text", "amount", "currency"),
    [
        ("AED\xa01,299.00", Decimal("1299.00"), "AED"),
        ("AED 49.95", Decimal("49.95"), "AED"),
        ("AED N/A", None, "AED"),
        ("12,345.5", Decimal("12345.5"), None),
    ],
)
def test_price_and_currency_are_exact(text: str, amount: Decimal | None, currency: str | None) -> None:
    assert parse_price(text) == amount
    assert parse_currency(text) == currency


@pytest.mark.parametrize(
    ("text", "value"),
    [("4.3 out of 5 stars", Decimal("4.3")), ("5", Decimal("5")), ("9.1 out of 5", None), ("", None)],
)
def test_rating(text: str, value: Decimal | None) -> None:
    assert parse_rating(text) == value


@pytest.mark.parametrize(("text", "value"), [("1,234 ratings", 1234), ("(87)", 87), ("none", None)])
def test_count(text: str, value: int | None) -> None:
    assert parse_count(text) == value


def test_loader_takes_first_values_and_keeps_url_lists() -> None:
    body = b"""<html><body><span id="t">  Apple   iPhone 15 </span>
    <span class="p">AED\xc2\xa01,299.00</span><img src="/a.jpg"><img src="/b.jpg"></body></html>"""
    response = HtmlResponse("http://127.0.0.1/dp/X", body=body, encoding="utf-8")
    loader = ProductLoader(response=response)
    loader.add_css("title", "#t::text")
    loader.add_css("price", ".p::text")
    loader.add_css("currency", ".p::text")
    loader.add_value("review_count", 0)
    loader.add_value("image_urls", [response.urljoin(u) for u in response.css("img::attr(src)").getall()])
    item = loader.load_item()
    assert item.title == "Apple iPhone 15"
    assert item.price == Decimal("1299.00")
    assert item.currency == "AED"
    assert item.review_count == 0
    assert item.image_urls == ["http://127.0.0.1/a.jpg", "http://127.0.0.1/b.jpg"]
