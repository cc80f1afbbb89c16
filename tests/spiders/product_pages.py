"""A benchmark spider: N amazon product pages of the sandbox over plain HTTP, every URL known at the start.

No listing chain sets its pace: how many pages are in flight at once (and what the site allows)
does. The throttle sweep's ``site-limit`` workload runs it against a sandbox that answers 429
past a number of requests in flight.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import scrapy

from looqta.sandbox.catalogue import Catalogue

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class ProductPagesSpider(scrapy.Spider):
    name = "product_pages"
    custom_settings: ClassVar[dict[str, Any]] = {"ITEM_PIPELINES": {}}  # its items are not products

    def __init__(self, amazon: str, pages: str = "1000", **kw: Any) -> None:
        super().__init__(**kw)
        self.amazon = amazon.rstrip("/")
        self.pages = int(pages)
        if self.pages < 1:
            raise ValueError(f"pages must be >= 1, got {pages!r}")

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for product in Catalogue("amazon").products[: self.pages]:
            yield scrapy.Request(
                f"{self.amazon}/dp/{product.source_id}",
                meta={"download_slot": "amazon"},  # the site's slot, as the amazon spider's pages
                cb_kwargs={"asin": product.source_id},
            )

    def parse(self, response: scrapy.http.Response, asin: str) -> Any:
        yield {"asin": asin, "title": (response.css("#productTitle::text").get() or "").strip()}
