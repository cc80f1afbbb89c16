"""A test spider that yields one site's offers without a request: the same products on every site.

Run by ``tests/test_match_store_processes.py``, one process per site at once. It installs the tests'
STAND-IN matcher (``match_standin``) in its crawl process.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import match_standin
import scrapy

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

match_standin.install()

#: Between two items: both processes write each product's offer at about the same moment.
PACE_SECONDS = 0.02


def title(number: int) -> str:
    return f"Sandbox Phone Model {number} 256GB Graphite"


class MatchOffersSpider(scrapy.Spider):
    name = "match_offers"

    def __init__(self, site: str, barrier: str, count: str = "60", **kw: Any) -> None:
        super().__init__(**kw)
        self.site, self.count, self.barrier = site, int(count), Path(barrier)

    async def _all_ready(self, timeout: float = 60.0) -> None:
        """Start together with the other site's process: each leaves a file and waits for the other's."""
        (self.barrier / self.site).touch()
        deadline = time.monotonic() + timeout
        while len(list(self.barrier.iterdir())) < 2:
            if time.monotonic() > deadline:
                raise TimeoutError("the other crawl process did not start")
            await asyncio.sleep(0.005)

    async def start(self) -> AsyncIterator[dict[str, Any]]:
        await self._all_ready()
        for number in range(self.count):  # both sites in the same order: they race for each product
            yield {
                "source": self.site,
                "source_id": f"{self.site[0].upper()}{number:05d}",
                "title": title(number) if self.site == "amazon" else title(number).upper(),
                "price": f"{1000 + number + (7 if self.site == 'noon' else 0)}.00",
                "currency": "AED",
                "url": f"http://127.0.0.1/{self.site}/{number}",
                "scraped_at": datetime.now(UTC).isoformat(),
            }
            await asyncio.sleep(PACE_SECONDS)  # both processes in step, batch by batch
