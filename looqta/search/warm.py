"""Warm site spiders: ``scrapy crawl <site> -a warm=1`` stays up and runs searches from Redis.

Built on scrapy-redis' ``RedisMixin`` (docs/search.md says which of its parts work on Scrapy 2.19):
its ``setup_redis`` (settings, client, the ``spider_idle`` connection) and ``spider_idle`` (which
keeps the idle spider open with ``DontCloseSpider``) are used as they are. Taking searches is
replaced: a task on the reactor's event loop takes a job whenever the crawler has room for one of
its kind (not only when idle), with an atomic move into this crawler's processing list
(looqta.search.queue), and runs it through the site spider's own ``search_start``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import redis
import redis.asyncio
from scrapy import signals
from scrapy_redis.spiders import RedisMixin

from looqta.health.checks import WARM_CRAWL_STAT
from looqta.redisstore.client import redact, server_url
from looqta.redisstore.config import RedisConfig
from looqta.search import contract
from looqta.search.pipeline import SearchOfferPipeline
from looqta.search.queue import SiteQueue, append
from looqta.search.tracker import SEARCH_ID_META_KEY, SearchTracker, search_tracker_opened

if TYPE_CHECKING:
    from collections.abc import Iterator

    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings

    from looqta.search.contract import SearchJob, StreamEntry
    from looqta.search.tracker import SearchRun

logger = logging.getLogger(__name__)

#: Finish reasons of a warm crawler stopped on purpose (SIGTERM, a Scrapyd cancel): its searches go
#: back to the queue without counting a delivery. Any other reason is counted, as a crash is.
CLEAN_STOP_REASONS = ("shutdown", "finished")
SEARCH_DUPEFILTER = "looqta.search.dupefilter.SearchDupeFilter"
#: After validation (100) and dedup (150), before the store (300) and files (400).
OFFER_PIPELINE_PRIORITY = 200


@dataclass(frozen=True)
class WarmConfig:
    redis: RedisConfig
    max_manual_searches: int = 4
    max_bulk_searches: int = 2
    poll_interval_seconds: float = 0.1
    heartbeat_seconds: float = 2.0
    lease_seconds: float = contract.LEASE_TTL_SECONDS
    max_attempts: int = 3

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> WarmConfig:
        config = cls(
            redis=RedisConfig.from_settings(settings),
            max_manual_searches=settings.getint("LOOQTA_WARM_MAX_MANUAL_SEARCHES", 4),
            max_bulk_searches=settings.getint("LOOQTA_WARM_MAX_BULK_SEARCHES", 2),
            poll_interval_seconds=settings.getfloat("LOOQTA_WARM_POLL_INTERVAL_SECONDS", 0.1),
            heartbeat_seconds=settings.getfloat("LOOQTA_WARM_HEARTBEAT_SECONDS", 2.0),
            lease_seconds=settings.getfloat("LOOQTA_WARM_LEASE_SECONDS", contract.LEASE_TTL_SECONDS),
            max_attempts=settings.getint("LOOQTA_WARM_MAX_ATTEMPTS", 3),
        )
        if config.max_manual_searches < 1 or config.max_bulk_searches < 0:
            raise ValueError("LOOQTA_WARM_MAX_MANUAL_SEARCHES >= 1 and LOOQTA_WARM_MAX_BULK_SEARCHES >= 0")
        if not 0 < config.heartbeat_seconds * 2 <= config.lease_seconds:
            raise ValueError("LOOQTA_WARM_LEASE_SECONDS must be at least twice the heartbeat")
        return config


class WarmSearchMixin(RedisMixin):
    """What makes a site spider warm; inert unless the spider was started with ``-a warm=1``."""

    warm: bool = False

    def search_start(self, args: Any) -> Iterator[Request]:
        raise NotImplementedError

    def setup_warm(self, crawler: Crawler) -> None:
        self.warm_config = WarmConfig.from_settings(crawler.settings)
        self.crawler_id = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.redis_key = contract.queue_key(self.name, "manual")  # what RedisMixin's idle check counts
        self.max_idle_time = 0  # never close for idleness: a warm crawler waits for searches
        self.setup_redis(crawler)
        # A page is fetched once per search, not once per crawl, and an offer streamed as soon as it
        # passed validation and dedup (settings are not frozen yet here).
        crawler.settings.set("DUPEFILTER_CLASS", SEARCH_DUPEFILTER, priority="spider")
        crawler.settings.set_in_component_priority_dict(
            "ITEM_PIPELINES", SearchOfferPipeline, OFFER_PIPELINE_PRIORITY
        )
        # scrapy-redis' client knows REDIS_URL only: ours is REDIS_URL or the embedded server.
        self.redis_url = server_url(self.warm_config.redis)
        self.server = redis.Redis.from_url(self.redis_url)
        self.count_size = self.server.llen
        self.tracker = SearchTracker(self._search_finished, on_offer=self._send_offer)
        self._tasks: list[asyncio.Task[None]] = []
        self._writes: asyncio.Queue[tuple[Any, ...]] | None = None
        self._wake = asyncio.Event()
        crawler.signals.connect(self._opened, signal=signals.spider_opened)
        crawler.signals.connect(self._closed, signal=signals.spider_closed)
        crawler.signals.connect(self._item_scraped, signal=signals.item_scraped)
        crawler.signals.connect(self._item_not_scraped, signal=signals.item_dropped)
        crawler.signals.connect(self._item_not_scraped, signal=signals.item_error)
        crawler.signals.connect(self._request_dropped, signal=signals.request_dropped)

    # scrapy-redis: spider_idle calls this; the taker already runs, so it only wakes it up.
    def schedule_next_requests(self) -> None:
        self._wake.set()

    # lifecycle -------------------------------------------------------------------------------

    def _opened(self) -> None:
        self.client = redis.asyncio.Redis.from_url(self.redis_url)
        self.queue = SiteQueue(self.client, self.name, self.crawler_id, self.warm_config.lease_seconds)
        self._writes = asyncio.Queue()
        self.crawler.stats.set_value(WARM_CRAWL_STAT, 1)  # read by run health
        self.crawler.signals.send_catch_log(search_tracker_opened, tracker=self.tracker)
        self._tasks = [
            asyncio.ensure_future(c)
            for c in (self._take_loop(), self._doorbell(), self._heartbeat(), self._write())
        ]
        for task in self._tasks:
            task.add_done_callback(self._task_ended)
        self.logger.info(
            "warm crawler %s takes %s searches from %s", self.crawler_id, self.name, redact(self.redis_url)
        )

    async def _closed(self, reason: str) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        moved = await self.queue.requeue_dead(including_self=True, clean=reason in CLEAN_STOP_REASONS)
        self.logger.info(
            "warm crawler %s closed (%s): %d searches back in the queue", self.crawler_id, reason, moved
        )
        await self.client.aclose()
        self.server.close()

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        """A loop ended by a bug: a crawler that no longer takes or writes must not look alive."""
        if not task.cancelled() and task.exception() is not None:
            self.logger.error("warm crawler task failed: closing", exc_info=task.exception())
            self._closing = asyncio.ensure_future(
                self.crawler.engine.close_spider_async(reason="warm_task_failed")
            )

    async def _redis_down(self, what: str, error: redis.RedisError) -> None:
        """Redis is unreachable: wait a heartbeat and try again (what was taken stays taken)."""
        self.crawler.stats.inc_value("looqta/search/redis_errors")
        self.logger.warning("Redis %s failed (%s); retrying", what, error)
        await asyncio.sleep(self.warm_config.heartbeat_seconds)

    # taking ----------------------------------------------------------------------------------

    def _room(self, kind: str) -> bool:
        limit = {"manual": self.warm_config.max_manual_searches, "bulk": self.warm_config.max_bulk_searches}
        return self.tracker.active(kind) < limit[kind]

    async def _take_loop(self) -> None:
        while True:
            self._wake.clear()  # before looking: a push seen while looking wakes the wait below
            raw = None
            try:
                if self._room("manual") or self._room("bulk"):
                    raw = await self.queue.take(manual=self._room("manual"), bulk=self._room("bulk"))
            except redis.RedisError as error:
                await self._redis_down("take", error)
                continue
            if raw is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.warm_config.poll_interval_seconds)
                continue
            self._start_search(raw)

    async def _doorbell(self) -> None:
        """Wake the taker as soon as a producer pushed a job for this site (``queue.push`` publishes)."""
        while True:
            pubsub = self.client.pubsub()
            try:
                await pubsub.subscribe(contract.pushed_channel(self.name))
                self._wake.set()  # anything pushed while (re)subscribing is found now
                while True:
                    if await pubsub.get_message(ignore_subscribe_messages=True, timeout=None):
                        self._wake.set()
            except redis.RedisError as error:
                await self._redis_down("subscribe", error)
            finally:
                await pubsub.aclose()

    async def _heartbeat(self) -> None:
        while True:
            try:
                await self.queue.heartbeat()
                moved = await self.queue.requeue_dead()
            except redis.RedisError as error:
                await self._redis_down("heartbeat", error)
                continue
            if moved:
                self.logger.warning("%d searches of dead %s crawlers back in the queue", moved, self.name)
            await asyncio.sleep(self.warm_config.heartbeat_seconds)

    def _start_search(self, raw: bytes) -> None:
        try:
            job = contract.SearchJob.decode(raw)
        except contract.ContractError as exc:
            self.logger.error("dropping a malformed search job: %s", exc)
            self._send(("finish", raw, "invalid", contract.site_failed(self.name, "error", str(exc))))
            return
        if job.attempt >= self.warm_config.max_attempts:
            detail = f"delivered {job.attempt + 1} times without finishing"
            self._send(("finish", raw, job.search_id, contract.site_failed(job.site, "error", detail)))
            return
        self.tracker.open(job, raw)
        self._send(("append", job.search_id, contract.site_started(job.site, job.attempt, self.crawler_id)))
        self.crawler.stats.inc_value(f"looqta/search/taken/{job.kind}")
        for request in self.search_start(self.warm_search_args(job)):
            request.meta[SEARCH_ID_META_KEY] = job.search_id
            self.crawler.engine.crawl(self.tracker.adopt(request))

    def warm_search_args(self, job: SearchJob) -> Any:
        """The spider's arguments for ``job``: its own site arguments with the job's search."""
        fields = {"q": job.query, "max_pages": job.max_pages, "job": job.kind, "details": job.details}
        return replace(self.args, search_id=job.search_id, **fields)

    # results ---------------------------------------------------------------------------------

    def _send_offer(self, run: SearchRun, item: Any) -> None:
        self._send(("append", run.job.search_id, contract.offer(run.job.site, item)))

    def _item_scraped(self, item: Any) -> None:
        self.tracker.offer(item)  # once: looqta.search.pipeline sent it already unless it was left out
        run = self.tracker.item_finished(item, scraped=True)
        if run is not None:
            self.tracker.check(run)

    def _item_not_scraped(self, item: Any) -> None:
        run = self.tracker.item_finished(item, scraped=False)
        if run is not None:
            self.tracker.check(run)

    def _request_dropped(self, request: Request) -> None:
        self.tracker.close(request)

    def _search_finished(self, run: SearchRun) -> None:
        entry = run.outcome(self.tracker.clock())
        self.crawler.stats.inc_value(f"looqta/search/{entry.event}")
        self._send(("finish", run.raw, run.job.search_id, entry))
        self._wake.set()  # room for the next search of its kind

    def _send(self, write: tuple[Any, ...]) -> None:
        assert self._writes is not None
        self._writes.put_nowait(write)

    async def _write(self) -> None:
        """One writer: a search's entries reach its stream in the order they happened."""
        assert self._writes is not None
        while True:
            write = await self._writes.get()
            while True:  # until written: the next entry of the search must not overtake it
                try:
                    if write[0] == "append":
                        await append(self.client, write[1], write[2])
                    else:
                        entry: StreamEntry = write[3]
                        await self.queue.finish(write[1], write[2], entry)
                    break
                except redis.RedisError as error:
                    await self._redis_down("stream write", error)
