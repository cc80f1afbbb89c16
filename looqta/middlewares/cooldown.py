"""Hold one download slot for a while: a site that asked us to wait, or that blocked us."""

from __future__ import annotations

import time
import weakref
from typing import TYPE_CHECKING

from looqta import internals

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler


class SlotCooldown:
    """Nothing leaves a request's download slot until its cool-down ends; other slots go on.

    Holds the slot as Scrapy's downloader does to wait out ``DOWNLOAD_DELAY``
    (:func:`looqta.internals.hold_slot`): meanwhile the slot's queue is not processed. A shorter
    cool-down never cuts a longer one that is already holding the slot, whoever asked for
    either: every component of a crawl shares one instance (:meth:`of`).
    """

    _of_crawler: weakref.WeakKeyDictionary[Crawler, SlotCooldown] = weakref.WeakKeyDictionary()

    @classmethod
    def of(cls, crawler: Crawler) -> SlotCooldown:
        """The crawl's one cool-down keeper (a Retry-After and a block page share deadlines)."""
        keeper = cls._of_crawler.get(crawler)
        if keeper is None:
            keeper = cls._of_crawler[crawler] = cls(crawler)
        return keeper

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self._until: dict[str, float] = {}  # slot key -> monotonic deadline

    def hold(self, request: Request, seconds: float) -> str:
        downloader = internals.downloader(self.crawler)
        key, slot = internals.download_slot(downloader, request)
        deadline = time.monotonic() + seconds
        if internals.is_held(slot) and self._until.get(key, 0.0) >= deadline:
            return key
        self._until[key] = deadline
        internals.hold_slot(downloader, slot, seconds)
        return key
