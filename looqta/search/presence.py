"""A warm crawler's live metrics in Redis: a small snapshot every few seconds, kept for a TTL.

``looqta:search:<site>:presence:<crawler id>`` holds the crawler's snapshot (JSON: site, crawler,
pid, state idle/busy, its searches, items/pages/blocks, requests in flight, memory, heartbeat, and
:func:`looqta.crawl_snapshot.snapshot`'s values), written every ``LOOQTA_PRESENCE_INTERVAL_SECONDS``
with a TTL of ``LOOQTA_PRESENCE_TTL_SECONDS``: a crawler that dies disappears once it runs out, one
that stops cleanly deletes it at once. The search service lists a site's crawlers from
``contract.crawlers_key(site)`` and reads these keys (looqta/serve/crawlers.py).

Enabled in every crawl (``EXTENSIONS``) but inert until a warm spider registers its search
tracker (``search_tracker_opened``): a one-off crawl publishes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import psutil
import redis
import redis.asyncio
from scrapy import signals
from scrapy.exceptions import NotConfigured

from looqta import internals
from looqta.crawl_snapshot import RateWindow, snapshot
from looqta.search.contract import KEY_PREFIX
from looqta.search.tracker import search_tracker_opened

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings

    from looqta.search.tracker import SearchTracker

logger = logging.getLogger(__name__)


def presence_key(site: str, crawler_id: str) -> str:
    return f"{KEY_PREFIX}:{site}:presence:{crawler_id}"


@dataclass(frozen=True)
class PresenceConfig:
    enabled: bool = True
    interval_seconds: float = 2.0
    ttl_seconds: float = 6.0

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> PresenceConfig:
        config = cls(
            enabled=settings.getbool("LOOQTA_PRESENCE_ENABLED", True),
            interval_seconds=settings.getfloat("LOOQTA_PRESENCE_INTERVAL_SECONDS", 2.0),
            ttl_seconds=settings.getfloat("LOOQTA_PRESENCE_TTL_SECONDS", 6.0),
        )
        if not 0 < config.interval_seconds < config.ttl_seconds:
            raise ValueError(
                "LOOQTA_PRESENCE_INTERVAL_SECONDS must be > 0 and shorter than LOOQTA_PRESENCE_TTL_SECONDS, "
                f"got {config.interval_seconds} and {config.ttl_seconds}"
            )
        return config


class CrawlerPresence:
    def __init__(self, crawler: Crawler) -> None:
        self.config = PresenceConfig.from_settings(crawler.settings)
        if not self.config.enabled:
            raise NotConfigured("LOOQTA_PRESENCE_ENABLED is off")
        self.crawler = crawler
        self.rates = RateWindow()
        self.process = psutil.Process()
        self.started_at = time.time()
        self.tracker: SearchTracker | None = None
        self.client: redis.asyncio.Redis | None = None
        self.site = self.crawler_id = self.key = ""  # known once the warm spider opens
        self._task: asyncio.Task[None] | None = None
        crawler.signals.connect(self._tracker_opened, signal=search_tracker_opened)
        crawler.signals.connect(self._spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def _tracker_opened(self, tracker: SearchTracker) -> None:
        spider: Any = self.crawler.spider
        self.tracker = tracker
        self.site, self.crawler_id = spider.name, spider.crawler_id
        self.key = presence_key(self.site, self.crawler_id)
        self.client = redis.asyncio.Redis.from_url(spider.redis_url)
        self._task = asyncio.ensure_future(self._publish_loop())

    async def _spider_closed(self) -> None:
        if self._task is None or self.client is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        with contextlib.suppress(redis.RedisError):  # else it expires after its TTL
            await self.client.delete(self.key)
        await self.client.aclose()

    async def _publish_loop(self) -> None:
        """Publish, then wait an interval; Redis errors are counted and the next one tried."""
        ttl_ms = int(self.config.ttl_seconds * 1000)
        while True:
            assert self.client is not None
            try:
                await self.client.set(self.key, json.dumps(self.presence(), default=str), px=ttl_ms)
            except redis.RedisError as error:
                self.crawler.stats.inc_value("looqta/search/presence/errors")
                logger.warning("crawler presence not published (%s)", error)
            await asyncio.sleep(self.config.interval_seconds)

    def presence(self) -> dict[str, Any]:
        """This crawler now (what the service shows at ``/api/crawlers``)."""
        assert self.tracker is not None
        stats, now = self.crawler.stats, time.time()
        pages, items = stats.get_value("response_received_count", 0), stats.get_value("item_scraped_count", 0)
        self.rates.add(time.monotonic(), pages, items)
        searches = [
            {
                "search_id": run.job.search_id,
                "query": run.job.query,
                "kind": run.job.kind,
                "seconds": round(self.tracker.clock() - run.started, 3),
            }
            for run in list(self.tracker.runs.values())
        ]
        engine = self.crawler.engine
        return {
            "site": self.site,
            "crawler": self.crawler_id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "state": "busy" if searches else "idle",
            "searches": searches,
            "items": items,
            "pages": pages,
            "blocks": stats.get_value("looqta/blocks/total", 0),
            "in_flight": internals.in_flight(internals.downloader(self.crawler)) if engine else 0,
            "memory_rss_bytes": self.process.memory_info().rss,
            "started_at": self.started_at,
            "heartbeat_at": now,
            "metrics": snapshot(self.crawler, self.rates),
        }
