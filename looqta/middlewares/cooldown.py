"""Hold one download slot for a while: a site that asked us to wait, or that blocked us."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from scrapy.utils.asyncio import call_later

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler


class SlotCooldown:
    """Nothing leaves a request's download slot until its cool-down ends; other slots go on.

    Uses the slot's own ``latercall``, the hook Scrapy's downloader uses to wait out
    ``DOWNLOAD_DELAY``: while it is pending the slot's queue is not processed. A shorter
    cool-down never cuts a longer one that is already holding the slot.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self._until: dict[str, float] = {}  # slot key -> monotonic deadline

    def hold(self, request: Request, seconds: float) -> str:
        downloader = self.crawler.engine.downloader  # type: ignore[union-attr]
        key, slot = downloader._get_slot(request)  # noqa: SLF001
        deadline = time.monotonic() + seconds
        if slot.latercall is not None:
            if self._until.get(key, 0.0) >= deadline:
                return key
            slot.latercall.cancel()
        self._until[key] = deadline
        slot.latercall = call_later(seconds, downloader._latercall, slot)  # noqa: SLF001
        return key
