"""A test spider whose rendered requests name several browser contexts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import scrapy
from scrapy_playwright.page import PageMethod

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class ContextsSpider(scrapy.Spider):
    name = "contexts"

    def __init__(self, noon: str, contexts: str = "default,a,b", **kw: Any):
        super().__init__(**kw)
        self.noon = noon
        self.contexts = contexts.split(",")

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for page, context in enumerate(self.contexts, start=1):
            yield scrapy.Request(
                f"{self.noon}/__render__/listing?q=iphone&page={page}",
                meta={
                    "playwright": True,
                    "playwright_context": context,
                    "playwright_page_methods": [
                        PageMethod("wait_for_selector", '[data-qa="product-list"][data-state="loaded"]')
                    ],
                },
                cb_kwargs={"context": context},
            )

    def parse(self, response: scrapy.http.Response, context: str) -> Any:
        yield {"context": context, "boxes": len(response.css('[data-qa="product-box"]'))}
