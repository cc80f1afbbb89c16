"""One download slot per site, whatever host or port the site is served from.

Scrapy keys download slots on the host name, so two sites served from one
host (the sandbox: 127.0.0.1, two ports) would share delay and concurrency,
and per-site ``DOWNLOAD_SLOTS`` entries would have to name real host names.
This middleware puts every request to the spider's own origin into a slot
named after the spider (``amazon``, ``noon``), so ``DOWNLOAD_SLOTS["amazon"]``
applies to amazon on the real site and in the sandbox alike. Requests to
other origins (image CDNs, documents) keep Scrapy's per-host slots.

The slots' concurrency is the throttle's to move: this middleware registers the downloader's
control (:class:`~looqta.throttle.downloader.DownloadSlots`) when the engine starts.

A spider declares its site's politeness as ``download_slot`` (concurrency, delay,
jitter); :func:`add_site_slot` makes it the ``DOWNLOAD_SLOTS`` entry unless the
settings already name that slot, so an operator's ``DOWNLOAD_SLOTS`` still wins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.settings import SETTINGS_PRIORITIES
from scrapy.utils.httpobj import urlparse_cached

from looqta import internals
from looqta.throttle.controls import register
from looqta.throttle.downloader import DownloadSlots

if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, Self

    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings


def add_site_slot(settings: BaseSettings, name: str, slot: Mapping[str, Any]) -> None:
    """Give slot ``name`` the settings ``slot`` unless ``DOWNLOAD_SLOTS`` already has an entry for it.

    The merged dict keeps every entry the settings held and is set one step above their priority
    (at least "spider"): Scrapy re-applies the process's settings to each crawler after the
    spider's ``update_settings``, and at an equal priority they would drop the added entry.
    """
    slots = settings.getdict("DOWNLOAD_SLOTS")
    if not slot or name in slots:
        return
    priority = max(settings.getpriority("DOWNLOAD_SLOTS") or 0, SETTINGS_PRIORITIES["spider"]) + 1
    settings.set("DOWNLOAD_SLOTS", {**slots, name: dict(slot)}, priority=priority)


class SiteSlotMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        crawler.signals.connect(self._engine_started, signal=signals.engine_started)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def _engine_started(self) -> None:
        register(self.crawler, DownloadSlots(internals.downloader(self.crawler)))

    def process_request(self, request: Request) -> None:
        spider = self.crawler.spider
        origin = getattr(spider, "origin", None)
        if origin is None or "download_slot" in request.meta:
            return
        parts = urlparse_cached(request)
        if f"{parts.scheme}://{parts.netloc}" == origin:
            request.meta["download_slot"] = spider.name  # type: ignore[union-attr]
