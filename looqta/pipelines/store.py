"""Store every valid offer in MongoDB (the embedded server when ``MONGO_URI`` is empty), then match it.

The Scrapy side only: settings, item checks, duplicates within this crawl, stats. It runs
before the files pipeline, and registers the store's file-records sink with it. In a warm crawler
(looqta.search) "this crawl" is each search. Writing,
batching and the outage spool are :class:`looqta.store.writer.StoreWriter`'s; nothing here
blocks the reactor (pymongo's async client, disk work in a thread). Each written batch's offers are
matched into products in the background (``looqta.match.queue``, ``LOOQTA_STORE_MATCH_ENABLED``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem, NotConfigured
from scrapy.utils.asyncio import create_looping_call

from looqta.match.queue import matching_queue
from looqta.records import file_results_sink_wanted
from looqta.search.tracker import search_tracker_opened
from looqta.store.config import StoreConfig
from looqta.store.connection import connect
from looqta.store.documents import RejectedItem, to_document
from looqta.store.sink import StoreSink
from looqta.store.spool import Spool
from looqta.store.writer import STATS_PREFIX, StoreWriter

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.utils.asyncio import AsyncioLoopingCall
    from twisted.internet.task import LoopingCall

    from looqta.match.queue import MatchQueue
    from looqta.records import FileResultsSink
    from looqta.search.tracker import SearchTracker
    from looqta.store.connection import StoreConnection

logger = logging.getLogger(__name__)


class MongoPipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.config = StoreConfig.from_settings(crawler.settings)
        if not self.config.enabled:
            raise NotConfigured("LOOQTA_STORE_ENABLED is off")
        self.crawler = crawler
        self.stats = crawler.stats
        self._seen: set[tuple[str, str]] = set()
        self.tracker: SearchTracker | None = None
        self._connection: StoreConnection | None = None
        self._spool: Spool | None = None
        self._writer: StoreWriter | None = None
        self._ticker: AsyncioLoopingCall | LoopingCall | None = None
        self._matching: MatchQueue | None = None
        self.sink = StoreSink(self.config, self.stats)
        crawler.signals.connect(self._sink_wanted, signal=file_results_sink_wanted)
        crawler.signals.connect(self._tracker_opened, signal=search_tracker_opened)

    def _tracker_opened(self, tracker: SearchTracker) -> None:
        self.tracker = tracker

    def _sink_wanted(self, register: Callable[[FileResultsSink], None]) -> None:
        register(self.sink)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    async def open_spider(self) -> None:
        try:
            await self._open()
        except BaseException as error:
            self.sink.failed(error)
            raise

    async def _open(self) -> None:
        self._connection = await connect(self.config)
        self._spool = await asyncio.to_thread(Spool.open, self.config.spool_dir, self.config.spool_max_bytes)
        if self.config.match_enabled:
            self._matching = matching_queue(self._connection.repository.database, self.stats, self.config)
        self._writer = StoreWriter(
            self._connection.repository,
            self._spool,
            self.stats,
            batch_size=self.config.batch_size,
            retry_initial_seconds=self.config.retry_initial_seconds,
            retry_max_seconds=self.config.retry_max_seconds,
            on_written=None if self._matching is None else self._matching.submit,
        )
        await self._writer.start()
        self._ticker = create_looping_call(self._writer.tick)
        self._ticker.start(self.config.flush_interval_seconds, now=False)
        self.sink.opened(self._writer, self._connection.uri)

    async def process_item(self, item: Any) -> Any:
        assert self._writer is not None, "open_spider() was not called"
        adapter = ItemAdapter(item)
        try:
            document = to_document(
                adapter,
                max_field_bytes=self.config.max_field_bytes,
                max_document_bytes=self.config.max_document_bytes,
            )
        except RejectedItem as rejected:
            self.stats.inc_value(f"{STATS_PREFIX}/rejected")
            self.stats.inc_value(f"{STATS_PREFIX}/rejected/{rejected.reason}")
            raise DropItem(
                f"not stored: {adapter.get('source')}:{adapter.get('source_id')}: {rejected}"
            ) from None
        seen = None if self.tracker is None else self.tracker.seen(item, "store")
        if seen is None:
            seen = self._seen  # this crawl's (a warm crawler's: each search's, kept by its tracker)
        if document.key in seen:
            self.stats.inc_value(f"{STATS_PREFIX}/duplicates")
            raise DropItem(
                f"already stored in this crawl: {document.source}:{document.source_id}", log_level="DEBUG"
            )
        seen.add(document.key)
        await self._writer.add(document)
        return item

    async def close_spider(self) -> None:
        self.sink.closed()
        if self._ticker is not None and self._ticker.running:
            self._ticker.stop()
        try:
            if self._writer is not None:
                await self._writer.close()
            if self._matching is not None:
                await self._matching.close()
        finally:
            if self._spool is not None:
                await asyncio.to_thread(self._spool.close)
            if self._connection is not None:
                await self._connection.close()
