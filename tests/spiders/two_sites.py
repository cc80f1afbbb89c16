"""A test spider fetching product pages of both sandbox sites in one crawl (one downloader)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import scrapy

from looqta.sandbox.catalogue import Catalogue

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class TwoSitesSpider(scrapy.Spider):
    name = "two_sites"

    def __init__(self, amazon: str, noon: str, amazon_pages: str = "4", noon_pages: str = "30", **kw: Any):
        super().__init__(**kw)
        self.amazon, self.noon = amazon, noon
        self.amazon_pages, self.noon_pages = int(amazon_pages), int(noon_pages)

    async def start(self) -> AsyncIterator[scrapy.Request]:
        for product in Catalogue("amazon").products[: self.amazon_pages]:
            yield scrapy.Request(f"{self.amazon}/dp/{product.source_id}", meta={"download_slot": "amazon"})
        for product in Catalogue("noon").products[: self.noon_pages]:
            url = f"{self.noon}/uae-en/{product.slug}/{product.source_id}/p/"
            yield scrapy.Request(url, meta={"download_slot": "noon"})

    def parse(self, response: scrapy.http.Response) -> Any:
        yield {"url": response.url, "status": response.status}
