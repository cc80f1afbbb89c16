"""A test and benchmark spider: N amazon product pages of the sandbox, every one rendered in Chromium.

``-a leak_mib=M`` makes each page store M MiB in the browser context's CacheStorage, which an
off-the-record context keeps in memory until the context closes: a deterministic stand-in for
the memory a long-lived browser gathers over a long crawl (scrapy-playwright issues #126, #183).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import scrapy
from scrapy_playwright.page import PageMethod

from looqta.sandbox.catalogue import Catalogue

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

#: Stores ``size`` MiB under a fresh key of the context's CacheStorage.
LEAK_SCRIPT = """async (mib) => {
  const cache = await caches.open("looqta-test-leak");
  await cache.put("/leak/" + Math.random(), new Response("x".repeat(mib * 1024 * 1024)));
  return true;
}"""


DOCUMENTS = "#productDocuments_feature_div a[href$='.pdf']"


class RenderedPagesSpider(scrapy.Spider):
    name = "rendered_pages"
    custom_settings: ClassVar[dict[str, Any]] = {"ITEM_PIPELINES": {}}  # its items are not products

    def __init__(self, amazon: str, pages: str = "20", leak_mib: str = "0", **kw: Any) -> None:
        super().__init__(**kw)
        self.amazon = amazon.rstrip("/")
        self.pages = int(pages)
        self.leak_mib = int(leak_mib)

    async def start(self) -> AsyncIterator[scrapy.Request]:
        methods = [PageMethod("wait_for_selector", DOCUMENTS)]
        if self.leak_mib:
            methods.append(PageMethod("evaluate", LEAK_SCRIPT, self.leak_mib))
        for product in Catalogue("amazon").products[: self.pages]:
            yield scrapy.Request(
                f"{self.amazon}/dp/{product.source_id}",
                meta={"download_slot": "amazon", "playwright": True, "playwright_page_methods": methods},
                cb_kwargs={"asin": product.source_id},
            )

    def parse(self, response: scrapy.http.Response, asin: str) -> Any:
        yield {"asin": asin, "documents": len(response.css(DOCUMENTS))}
