"""The store's answer to the file pool: an item's file records go through the one store writer.

The files pipeline asks for a :class:`~looqta.records.FileResultsSink` when it opens
(``looqta.records.file_results_sink_wanted``); the store pipeline registers this one. Records
are checked as the store keeps them and queued behind the item's product document, which the
store pipeline handed to the writer before the item reached the files pipeline.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from looqta.records import WorkerStore
from looqta.store.documents import RejectedItem, file_set
from looqta.store.files_update import WRITE_FUNCTION
from looqta.store.writer import STATS_PREFIX

if TYPE_CHECKING:
    from looqta.records import FileResults
    from looqta.store.config import StoreConfig
    from looqta.store.writer import StatsSink, StoreWriter

logger = logging.getLogger(__name__)


class StoreSink:
    """A :class:`~looqta.records.FileResultsSink` on the crawl's :class:`StoreWriter`."""

    def __init__(self, config: StoreConfig, stats: StatsSink) -> None:
        self.config = config
        self.stats = stats
        self._writer: StoreWriter | None = None
        self._uri = ""
        self._error: BaseException | None = None
        self._ready = asyncio.Event()
        self._closed = False

    def opened(self, writer: StoreWriter, uri: str) -> None:
        self._writer, self._uri = writer, uri
        self._ready.set()

    def failed(self, error: BaseException) -> None:
        """The store did not open: whoever waits on the sink gets ``error``."""
        self._error = error
        self._ready.set()

    def closed(self) -> None:
        self._closed = True

    async def _opened_writer(self) -> StoreWriter:
        await self._ready.wait()
        if self._error is not None:
            raise RuntimeError(f"the store did not open: {self._error}") from self._error
        assert self._writer is not None
        return self._writer

    async def apply(self, results: FileResults) -> None:
        writer = await self._opened_writer()
        try:
            operation = file_set(results, self.config.max_field_bytes)
        except RejectedItem as rejected:
            self.stats.inc_value(f"{STATS_PREFIX}/rejected")
            self.stats.inc_value(f"{STATS_PREFIX}/rejected/{rejected.reason}")
            logger.error("The store refuses the file records of %s:%s: %s", *results.key, rejected)
            return
        if self._closed:  # only when the crawl stopped before the item's files ended
            logger.warning("The store closed before the file records of %s:%s came", *results.key)
            return
        await writer.add(operation)

    async def worker_store(self) -> WorkerStore:
        await self._opened_writer()
        config = self.config
        return WorkerStore(
            WRITE_FUNCTION,
            self._uri,
            config.database,
            config.connect_timeout_seconds,
            config.write_timeout_seconds,
        )
