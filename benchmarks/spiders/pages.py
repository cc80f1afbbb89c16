"""Benchmark spider: fetch N sandbox noon listing pages, rendered in Chromium or over plain HTTP."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import scrapy
from scrapy_playwright.page import PageMethod

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

LISTING_LOADED = '[data-qa="product-list"][data-state="loaded"]'


class PagesSpider(scrapy.Spider):
    name = "bench_pages"

    def __init__(self, noon: str, pages: str = "100", render: str = "browser", **kw: Any) -> None:
        super().__init__(**kw)
        self.noon, self.pages, self.render = noon, int(pages), render

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for i in range(self.pages):
            url = f"{self.noon}/__render__/listing?q=sony&page={i % 50 + 1}&n={i}"
            meta: dict[str, Any] = {}
            if self.render == "browser":
                meta = {
                    "playwright": True,
                    "playwright_page_methods": [PageMethod("wait_for_selector", LISTING_LOADED)],
                }
            yield scrapy.Request(url, meta=meta, dont_filter=True)

    def parse(self, response: scrapy.http.Response) -> Any:
        yield {"boxes": len(response.css('[data-qa="product-box"]'))}
