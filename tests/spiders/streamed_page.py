"""A test spider: one page of ``items`` results whose callback fails after its items (``-a fail=1``).

Each item carries which items the pipelines had seen when the callback made it (``piped_before``):
a page passed on as it is parsed shows every earlier item there; a page held until its callback
ends shows none, and one whose callback fails loses them all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

import scrapy

from looqta.spiders.base import PAGE_TYPE_META_KEY, PageType

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from scrapy.crawler import Crawler
    from scrapy.http import Response


class PageBroke(Exception):
    """What the callback raises after its items."""


class PipedPipeline:
    """Records, on the spider, each item's number as the item enters the pipelines."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> PipedPipeline:
        return cls(crawler)

    def process_item(self, item: dict[str, Any]) -> dict[str, Any]:
        self.crawler.spider.piped.append(item["n"])  # type: ignore[union-attr]
        return item


class StreamedPageSpider(scrapy.Spider):
    name = "streamed_page"
    page_types: ClassVar[dict[str, PageType]] = {"search": PageType("search", ("n",), "div.card")}
    custom_settings: ClassVar[dict[str, Any]] = {
        "ITEM_PIPELINES": {"tests.spiders.streamed_page.PipedPipeline": 100},
        # A data: URL, no site.
        "DOWNLOAD_HANDLERS": {"data": "scrapy.core.downloader.handlers.datauri.DataURIDownloadHandler"},
        "LOOQTA_GUARD_ENABLED": False,
    }

    def __init__(self, items: str = "5", fail: str = "0", **kw: Any) -> None:
        super().__init__(**kw)
        self.items = int(items)
        self.fail = fail == "1"
        self.piped: list[int] = []

    async def start(self) -> AsyncIterator[scrapy.Request]:
        cards = "".join(f'<div class="card">{n}</div>' for n in range(self.items))
        yield scrapy.Request(f"data:text/html,{quote(cards)}", meta={PAGE_TYPE_META_KEY: "search"})

    def parse(self, response: Response) -> Iterator[dict[str, Any]]:
        for n, _card in enumerate(response.css("div.card")):
            yield {"n": n, "piped_before": list(self.piped)}
        if self.fail:
            raise PageBroke("the page broke after its items")
