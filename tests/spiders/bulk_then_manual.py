"""A bulk sweep of thousands of sandbox pages over many download slots, then one manual request."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import scrapy
from scrapy.exceptions import CloseSpider

from looqta.pqueues import REQUEST_PRIORITY_BY_JOB
from looqta.sandbox.catalogue import Catalogue

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class BulkThenManualSpider(scrapy.Spider):
    name = "bulk_then_manual"

    def __init__(
        self, amazon: str, noon: str, bulk: str = "3000", after: str = "100", slots: str = "20", **kw: Any
    ):
        super().__init__(**kw)
        self.amazon, self.noon = amazon, noon
        self.bulk, self.after, self.slots = int(bulk), int(after), int(slots)
        self.seen = 0

    async def start(self) -> AsyncIterator[scrapy.Request]:
        products = Catalogue("amazon").products
        for i in range(self.bulk):
            product = products[i % len(products)]
            url = f"{self.amazon}/dp/{product.source_id}?bulk={i}"
            meta = {"download_slot": f"site-{i % self.slots}", "looqta_job": "bulk"}
            yield scrapy.Request(url, meta=meta, priority=REQUEST_PRIORITY_BY_JOB["bulk"], dont_filter=True)

    def parse(self, response: scrapy.http.Response) -> Any:
        self.seen += 1
        if self.seen == self.after:
            product = Catalogue("noon").products[0]
            url = f"{self.noon}/uae-en/{product.slug}/{product.source_id}/p/?manual=1"
            yield {"manual_scheduled_at": time.time()}
            yield scrapy.Request(
                url,
                meta={"download_slot": f"site-{self.slots // 2}", "looqta_job": "manual"},
                priority=REQUEST_PRIORITY_BY_JOB["manual"],
                callback=self.parse_manual,
            )

    def parse_manual(self, response: scrapy.http.Response) -> Any:
        yield {"manual_status": response.status}
        raise CloseSpider("manual request served")
