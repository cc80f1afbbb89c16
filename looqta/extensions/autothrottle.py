"""AutoThrottle that keeps each site's configured delay as its floor.

Scrapy's AutoThrottle lets every slot's delay fall to ``DOWNLOAD_DELAY``; a
``DOWNLOAD_SLOTS`` entry's ``delay`` is only where that slot starts. Here the
entry's ``delay`` is also the least the slot is ever given, so a site's
cooldown holds however fast it answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.extensions.throttle import AutoThrottle

from looqta import internals

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response


class SiteAutoThrottle(AutoThrottle):
    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.slot_floors: dict[str, float] = {
            key: float(conf["delay"])
            for key, conf in crawler.settings.getdict("DOWNLOAD_SLOTS").items()
            if "delay" in conf
        }
        # Receivers run in the order they connected: this one after AutoThrottle's own adjustment.
        crawler.signals.connect(self._keep_floor, signal=signals.response_downloaded)

    def _keep_floor(self, response: Response, request: Request) -> None:
        key = request.meta.get("download_slot")
        if key not in self.slot_floors:
            return
        slot = internals.slots(internals.downloader(self.crawler)).get(key)
        if slot is not None:
            slot.delay = max(slot.delay, self.slot_floors[key])
