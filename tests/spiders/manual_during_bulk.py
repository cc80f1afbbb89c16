"""The real amazon spider running a bulk job, into which a manual job's requests arrive mid-sweep.

The bulk job reads one search page and queues thousands of product pages from it.

Every request is built by ``SearchSpider.page_request``, which gives it its job's priority
(``REQUEST_PRIORITY_BY_JOB``): the bulk sweep by this spider (``-a job=bulk``), the manual job's
product pages by a twin spider with ``job=manual``. The bulk pages are spread over many download
slots, as a bulk sweep of many sites is; the manual pages go to the site's own slot (``amazon``).
Items carry the page's title: the page check (looqta.render) would otherwise send the page to
the browser as one that lacked its content.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar

from scrapy.exceptions import CloseSpider

from looqta.sandbox.catalogue import Catalogue
from looqta.spiders.amazon import AmazonSpider

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    import scrapy
    from scrapy.http import Response


class ManualDuringBulkSpider(AmazonSpider):
    name = "manual_during_bulk"
    custom_settings: ClassVar[dict[str, Any]] = {"ITEM_PIPELINES": {}}  # its items are not products

    def __init__(
        self, bulk: str = "3000", after: str = "100", manual: str = "10", slots: str = "50", **kw: Any
    ) -> None:
        super().__init__(**kw)
        if self.args.job != "bulk":
            raise ValueError("run it with -a job=bulk: the manual job's requests come mid-sweep")
        self.bulk, self.after, self.manual, self.slots = int(bulk), int(after), int(manual), int(slots)
        self.bulk_seen = self.manual_seen = 0
        # The manual job: the same spider with the arguments of `-a job=manual`.
        self.manual_job = AmazonSpider(q=self.args.q, base_url=self.base_url, job="manual")

    async def start(self) -> AsyncIterator[scrapy.Request | dict[str, str]]:
        yield {"scheduler_priority_queue": self.settings["SCHEDULER_PRIORITY_QUEUE"]}
        yield self.page_request(self.search_url(self.args, 1), "search", self.parse_sweep)

    def parse_sweep(self, response: Response) -> Iterator[scrapy.Request]:
        """The bulk job's listing: all its product pages go to the scheduler at once (not lazily, as
        start requests would, which would leave the scheduler nearly empty whatever the priorities)."""
        products = Catalogue("amazon").products
        for i in range(self.bulk):
            product = products[i % len(products)]
            yield self.page_request(
                f"{self.base_url}/dp/{product.source_id}?bulk={i}",
                "product",
                self.parse_bulk,
                meta={"download_slot": f"bulk-site-{i % self.slots}"},
                dont_filter=True,
            )

    def parse_bulk(self, response: Response) -> Iterator[Any]:
        self.bulk_seen += 1
        if self.manual_seen == self.manual:
            # Here, not in parse_manual: the page check drops the outputs of a callback that raises.
            raise CloseSpider("the manual job is served")
        if self.bulk_seen != self.after:
            return
        yield {"title": title(response), "manual_scheduled_at": time.time()}
        for product in Catalogue("amazon").products[: self.manual]:
            yield self.manual_job.page_request(
                f"{self.base_url}/dp/{product.source_id}?manual=1",
                "product",
                self.parse_manual,
                meta={"download_slot": "amazon"},  # the site's slot, as the amazon spider's pages
                dont_filter=True,
            )

    def parse_manual(self, response: Response) -> Iterator[Any]:
        self.manual_seen += 1
        yield {"title": title(response), "manual_status": response.status, "job": response.meta["looqta_job"]}


def title(response: Response) -> str:
    return " ".join(response.css("#productTitle::text").get("").split())
