"""AutoThrottle that keeps each site's configured delay as its floor.

Scrapy's AutoThrottle lets every slot's delay fall to ``DOWNLOAD_DELAY``; a
``DOWNLOAD_SLOTS`` entry's ``delay`` is only where that slot starts. Here the
entry's ``delay`` is also the least the slot is ever given, so a site's
cooldown holds however fast it answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.extensions.throttle import AutoThrottle

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.core.downloader import Slot
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

    def _response_downloaded(self, response: Response, request: Request, spider: Spider) -> None:
        super()._response_downloaded(response, request, spider)
        key, slot = self._get_slot(request, spider)
        if key is not None and slot is not None and key in self.slot_floors:
            self._apply_floor(slot, self.slot_floors[key])

    @staticmethod
    def _apply_floor(slot: Slot, floor: float) -> None:
        slot.delay = max(slot.delay, floor)
