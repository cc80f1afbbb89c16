from __future__ import annotations

import pytest

from looqta.spiders.amazon import AmazonSpider
from looqta.spiders.base import SearchArgs, SpiderArgumentError
from looqta.spiders.noon import NoonSpider


def test_defaults_point_at_the_real_sites() -> None:
    assert AmazonSpider(q="iphone").base_url == "https://www.amazon.ae"
    noon = NoonSpider(q="iphone")
    assert noon.search_url(noon.args, 2) == "https://www.noon.com/uae-en/search/?q=iphone&page=2"


def test_base_url_argument_points_elsewhere() -> None:
    spider = AmazonSpider(q="usb c cable", base_url="http://127.0.0.1:8080/", max_pages="3")
    assert spider.search_url(spider.args, 1) == "http://127.0.0.1:8080/s?k=usb+c+cable&page=1"
    assert spider.origin == "http://127.0.0.1:8080"
    assert spider.args.allows_page(3)
    assert not spider.args.allows_page(4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "search query is missing"),
        ({"q": "   "}, "search query is missing"),
        ({"q": "x", "max_pages": "-1"}, "max_pages must be a positive integer, got '-1'"),
        ({"q": "x", "max_pages": "0"}, "max_pages must be a positive integer"),
        ({"q": "x", "max_pages": "two"}, "max_pages must be a positive integer, got 'two'"),
        ({"q": "x", "base_url": "ftp://example.com"}, "base_url must be an http(s) URL"),
        ({"q": "x", "job": "urgent"}, "job must be one of manual, bulk"),
        ({"q": "x", "details": "maybe"}, "details must be 1 or 0, got 'maybe'"),
    ],
)
def test_bad_arguments_are_refused_with_a_clear_message(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(SpiderArgumentError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SearchArgs.from_kwargs(kwargs, "https://www.amazon.ae")


def test_details_and_locale_arguments() -> None:
    assert SearchArgs.from_kwargs({"q": "x", "details": "1"}, "https://www.amazon.ae").details
    assert not SearchArgs.from_kwargs({"q": "x"}, "https://www.amazon.ae").details
    assert NoonSpider(q="x", locale="saudi-en").site_currency == "SAR"
    with pytest.raises(SpiderArgumentError, match="locale must look like uae-en"):
        NoonSpider(q="x", locale="../etc")
