"""PageCheckMiddleware: a page's output passes on as the callback yields it, and is still judged."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from crawling import run_crawl
from scrapy import Request
from scrapy.http import HtmlResponse
from scrapy.utils.asyncgen import as_async_generator
from scrapy.utils.test import get_crawler

from looqta.render.middleware import AdaptiveRenderMiddleware, PageCheckMiddleware, render_policy_opened
from looqta.spiders.amazon import AmazonSpider
from looqta.spiders.base import PAGE_TYPE_META_KEY

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    from scrapy.statscollectors import StatsCollector

URL = "http://127.0.0.1:8001/s?k=x"
RESULTS = "<html><body>" + "<div data-component-type=s-search-result></div>" * 3 + "</body></html>"
NOT_SHOWN = "<html><body><div id=app></div></body></html>"  # a shell its script would fill


def item(n: int, price: str | None = "1.00") -> dict[str, Any]:
    return {"source_id": f"A{n}", "title": "t", "price": price, "currency": "AED"}


class Page:
    """One amazon search page through AdaptiveRenderMiddleware and PageCheckMiddleware; ``log``
    records each output as the callback makes it and as the middleware passes it on."""

    def __init__(self, body: str, mode: str = "adaptive") -> None:
        crawler = get_crawler(AmazonSpider, {"LOOQTA_RENDER_MODE": mode})
        crawler.spider = AmazonSpider(q="x", base_url="http://127.0.0.1:8001")
        assert crawler.stats is not None
        self.stats: StatsCollector = crawler.stats
        self.render = AdaptiveRenderMiddleware(crawler)
        self.check = PageCheckMiddleware(crawler)
        crawler.signals.send_catch_log(render_policy_opened, policy=self.render)
        request = Request(URL, meta={PAGE_TYPE_META_KEY: "search"})
        self.render.process_request(request)
        self.response = HtmlResponse(URL, body=body.encode(), request=request)
        self.log: list[str] = []

    def callback(self, outputs: list[Any], fail: bool = False) -> Iterator[Any]:
        for output in outputs:
            self.log.append(f"made {name(output)}")
            yield output
        if fail:
            raise ValueError("the page broke")

    async def async_callback(self, outputs: list[Any], fail: bool = False) -> AsyncIterator[Any]:
        for output in self.callback(outputs, fail):
            await asyncio.sleep(0)
            yield output

    def run(self, outputs: list[Any], *, form: str = "sync", fail: bool = False) -> list[Any]:
        """What the middleware passes on of a ``form`` callback's ``outputs``."""

        async def consume() -> list[Any]:
            source = (
                as_async_generator(self.callback(outputs, fail))  # as Scrapy wraps a sync callback
                if form == "sync"
                else self.async_callback(outputs, fail)
            )
            passed = []
            async for output in self.check.process_spider_output(self.response, source):
                self.log.append(f"got {name(output)}")
                passed.append(output)
            return passed

        return asyncio.run(consume())


def name(output: Any) -> str:
    return output["source_id"] if isinstance(output, dict) else output.url


@pytest.mark.parametrize("form", ["sync", "async"])
def test_a_good_page_passes_each_output_on_as_the_callback_yields_it(form: str) -> None:
    page = Page(RESULTS)
    next_page = Request(f"{URL}&page=2")
    passed = page.run([item(0), item(1), next_page, item(2)], form=form)
    assert passed[:2] == [item(0), item(1)]
    assert page.log == [
        "made A0", "got A0", "made A1", "got A1", f"made {next_page.url}", f"got {next_page.url}",
        "made A2", "got A2",
    ]  # fmt: skip
    assert page.stats.get_value("looqta/pages/search/ok") == 1
    assert page.stats.get_value("looqta/render/amazon/search/refetched") is None


@pytest.mark.parametrize("form", ["sync", "async"])
def test_items_yielded_before_the_callback_fails_are_passed_on(form: str) -> None:
    page = Page(RESULTS)
    passed: list[Any] = []

    async def consume() -> None:
        source = as_async_generator(page.callback([item(0), item(1)], fail=True))
        if form == "async":
            source = page.async_callback([item(0), item(1)], fail=True)
        async for output in page.check.process_spider_output(page.response, source):
            passed.append(output)

    with pytest.raises(ValueError, match="the page broke"):
        asyncio.run(consume())
    assert passed == [item(0), item(1)]


def test_a_plain_page_that_does_not_show_its_content_is_read_again_in_the_browser() -> None:
    page = Page(NOT_SHOWN)
    passed = page.run([item(0), item(1)])
    assert len(passed) == 1  # the page's own output is dropped
    retry = passed[0]
    assert isinstance(retry, Request)
    assert retry.url == URL
    assert retry.dont_filter
    assert retry.meta["playwright"] is True
    assert page.stats.get_value("looqta/pages/search/unparsed") == 1
    assert page.stats.get_value("looqta/render/amazon/search/refetched") == 1
    assert page.stats.get_value("looqta/render/amazon/search/to_browser") == 1


def test_a_plain_page_that_shows_nothing_is_still_fine() -> None:
    no_results = "<html><body><div class=s-no-results-result>No results</div></body></html>"
    page = Page(no_results)
    assert page.run([]) == []
    assert page.stats.get_value("looqta/pages/search/ok") == 1


def test_items_missing_required_fields_are_held_until_the_page_is_judged() -> None:
    # Most items lack their price: the page is read again; only the good item before them went on.
    page = Page(RESULTS)
    passed = page.run([item(0), item(1, price=None), item(2, price=None), Request(f"{URL}&page=2")])
    assert passed[0] == item(0)
    assert [type(output) for output in passed] == [dict, Request]
    assert passed[1].meta["playwright"] is True
    assert page.log[:3] == ["made A0", "got A0", "made A1"]
    assert page.stats.get_value("looqta/render/amazon/search/refetched") == 1
    # A few items lacking it: the page is fine, and what was held follows in the order it came.
    page = Page(RESULTS)
    passed = page.run([item(0), item(1, price=None), item(2), item(3)])
    assert [name(output) for output in passed] == ["A0", "A1", "A2", "A3"]
    assert page.log == ["made A0", "got A0", "made A1", "made A2", "made A3", "got A1", "got A2", "got A3"]
    assert page.stats.get_value("looqta/pages/search/ok") == 1
    assert page.stats.get_value("looqta/render/amazon/search/refetched") is None


def test_a_rendered_page_is_never_held_nor_read_again(caplog: pytest.LogCaptureFixture) -> None:
    page = Page(NOT_SHOWN, mode="browser")
    passed = page.run([item(0), item(1, price=None)])
    assert passed == [item(0), item(1, price=None)]
    assert page.log == ["made A0", "got A0", "made A1", "got A1"]
    assert page.stats.get_value("looqta/pages/search/unparsed") == 1
    assert "the rendered page shows no search content either" in caplog.text


def test_each_item_reaches_the_pipelines_before_the_callback_goes_on(tmp_path: Path) -> None:
    """A real crawl: each item is in the pipelines before the callback makes the next one, and
    the items yielded before the callback fails are kept."""
    result = run_crawl(
        "tests/spiders/streamed_page.py",
        tmp_path,
        runspider=True,
        spider_args={"items": 5, "fail": 1},
        settings={"ROBOTSTXT_OBEY": False, "LOOQTA_FILES_ENABLED": False},
        timeout=90,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert [(i["n"], i["piped_before"]) for i in result.items] == [(n, list(range(n))) for n in range(5)]
    assert result.stat("spider_exceptions/PageBroke") == 1
    assert result.stat("item_scraped_count") == 5
