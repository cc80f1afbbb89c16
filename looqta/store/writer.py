"""Batch documents into the store, and keep them on disk while the store is unreachable.

:class:`StoreWriter` is asyncio code with no Scrapy in it: the pipeline hands it
documents, a looping call runs :meth:`StoreWriter.tick`. Documents are written
in batches of ``batch_size`` (and whatever waits when ``tick`` runs). When a
write fails because the server cannot be reached, the batch goes to the
:class:`~looqta.store.spool.Spool`, later batches follow it there (so the order
holds), and ``tick`` retries with exponential backoff; once the server answers,
the spool is replayed oldest first. Upserts are idempotent, so a batch that was
half-written before the failure is simply written again. Documents the store refuses for
good never reach this module's retry: the repository dead-letters them and writes the rest
(``looqta.store.faults``). A full spool drops new documents with an error and a stat.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from pymongo.errors import ConnectionFailure, OperationFailure

from looqta.match.model import offer_key
from looqta.store.connection import describe
from looqta.store.documents import ProductDocument

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from typing import Any

    from looqta.store.documents import Operation
    from looqta.store.repository import ProductRepository, WriteSummary
    from looqta.store.spool import Spool

logger = logging.getLogger(__name__)

STATS_PREFIX = "looqta/store"
#: A server that cannot be reached, or answers "not now" (shutting down, stepping down, interrupted).
#: A document it refuses for good is not one of these: the repository dead-letters it.
STORE_UNAVAILABLE: tuple[type[Exception], ...] = (ConnectionFailure, OperationFailure)


class StatsSink(Protocol):
    def inc_value(self, key: str, count: int = 1, start: int = 0) -> None: ...


def retry_delay(failures: int, initial_seconds: float, max_seconds: float) -> float:
    """Seconds to wait after the ``failures``-th failure in a row: doubling from ``initial``, capped."""
    return min(max_seconds, initial_seconds * 2 ** max(0, failures - 1))


class StoreWriter:
    def __init__(
        self,
        repository: ProductRepository,
        spool: Spool,
        stats: StatsSink,
        *,
        batch_size: int,
        retry_initial_seconds: float,
        retry_max_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        on_written: Callable[[list[str]], None] | None = None,
    ) -> None:
        self.repository = repository
        self.spool = spool
        self.stats = stats
        self.batch_size = batch_size
        self.retry_initial_seconds = retry_initial_seconds
        self.retry_max_seconds = retry_max_seconds
        self._clock = clock
        self._now = now
        #: Told the keys (``site:source_id``) of the offers each batch wrote (the matcher's queue);
        #: must return at once.
        self._on_written = on_written
        self._pending: list[Operation] = []
        self._lock = asyncio.Lock()  # one write (or spool append) at a time, in order
        self._online = False
        self._indexes_ready = False
        self._failures = 0
        self._retry_at = 0.0
        self._flushing: asyncio.Task[None] | None = None
        self._recovery: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def online(self) -> bool:
        """True when documents go straight to the store (it answers and nothing waits in the spool)."""
        return self._online and len(self.spool) == 0

    async def start(self) -> None:
        """Create the indexes and write what earlier crawls left in the spool.

        An unreachable server is not an error here: documents are spooled until it
        answers. A server that answers but refuses (bad credentials) raises.
        """
        try:
            await self.repository.ping()
            await self.repository.ensure_indexes()
        except ConnectionFailure as error:
            self._went_offline(error)
            return
        self._indexes_ready = True
        await self._recover()

    async def add(self, operation: Operation) -> None:
        """Queue a product document, or file records to set on one, behind what came before."""
        self._pending.append(operation)
        if len(self._pending) >= self.batch_size:
            await self.flush()

    async def flush(self) -> None:
        """Write (or spool) every document added so far."""
        async with self._lock:
            while self._pending:
                batch, self._pending = self._pending[: self.batch_size], self._pending[self.batch_size :]
                await self._write(batch)

    def tick(self) -> None:
        """Called periodically: flush what waits, and retry the store when it is due."""
        flush_idle = self._flushing is None or self._flushing.done()
        if self._pending and flush_idle:
            self._flushing = self._spawn(self.flush())
        recovery_idle = self._recovery is None or self._recovery.done()
        if recovery_idle and not self.online and self._clock() >= self._retry_at:
            self._recovery = self._spawn(self._recover())

    async def close(self) -> None:
        """Flush, wait for background work, and try the store one last time if it was down."""
        await self.flush()
        if self._tasks:
            await asyncio.wait(self._tasks)
        if not self.online:
            await self._recover()

    async def _write(self, batch: list[Operation]) -> None:
        if not self.online:
            await self._to_spool(batch)
            return
        change_id = uuid.uuid4().hex
        # Durable before the write: if the process dies between the product and the history
        # write, the next writer to open this spool (or adopt it) records the change.
        await asyncio.to_thread(self.spool.mark_change, change_id)
        try:
            summary = await self.repository.write(batch, change_id, self._now())
        except STORE_UNAVAILABLE as error:
            self._went_offline(error)
            await self._to_spool(batch)  # the change id stays marked: recorded on recovery
            return
        await asyncio.to_thread(self.spool.resolve_change, change_id)
        self._count(summary)
        self._written(batch, summary)

    async def _to_spool(self, batch: list[Operation]) -> None:
        stored = await asyncio.to_thread(self.spool.append, batch)
        self.stats.inc_value(f"{STATS_PREFIX}/spooled", stored)
        if stored < len(batch):
            self.stats.inc_value(f"{STATS_PREFIX}/spool_full", len(batch) - stored)
            logger.error(
                "The spool %s is full (%d bytes, LOOQTA_STORE_SPOOL_MAX_BYTES): %d documents dropped, "
                "not stored",
                self.spool.path,
                self.spool.max_bytes,
                len(batch) - stored,
            )

    async def _recover(self) -> None:
        """Ping; if the store answers, record pending price changes and replay the spool."""
        try:
            await self.repository.ping()
            if not self._indexes_ready:
                await self.repository.ensure_indexes()
                self._indexes_ready = True
        except STORE_UNAVAILABLE as error:
            self._went_offline(error)
            return
        if self._failures:
            logger.info("The store answers again after %d failed tries", self._failures)
        if len(self.spool):
            logger.info("Replaying %d spooled documents from %s", len(self.spool), self.spool.path)
        self._online, self._failures = True, 0
        try:
            await self._replay()
        except STORE_UNAVAILABLE as error:
            self._went_offline(error)

    async def _replay(self) -> None:
        async with self._lock:
            # Changes whose history may be missing (a write killed or cut off mid-way, in this
            # process or in the crawl whose spool was adopted), recorded before anything new.
            for change_id in await asyncio.to_thread(self.spool.pending_changes):
                recorded = await self.repository.record_history(change_id, self._now())
                self.stats.inc_value(f"{STATS_PREFIX}/price_changes", recorded)
                await asyncio.to_thread(self.spool.resolve_change, change_id)
        while True:
            async with self._lock:  # per batch, so new documents queue behind the spool meanwhile
                rows = await asyncio.to_thread(self.spool.head, self.batch_size)
                if not rows:
                    return
                change_id = uuid.uuid4().hex
                await asyncio.to_thread(self.spool.mark_change, change_id)
                summary = await self.repository.write([doc for _, doc in rows], change_id, self._now())
                await asyncio.to_thread(self.spool.delete, [row_id for row_id, _ in rows], change_id)
                self.stats.inc_value(f"{STATS_PREFIX}/replayed", len(rows))
                self._count(summary)
                self._written([doc for _, doc in rows], summary)

    def _written(self, batch: list[Operation], summary: WriteSummary) -> None:
        if self._on_written is None:
            return
        refused = {refusal.operation.key for refusal in summary.refused}
        written = {op.key for op in batch if isinstance(op, ProductDocument) and op.key not in refused}
        if written:
            self._on_written([offer_key(source, source_id) for source, source_id in sorted(written)])

    def _went_offline(self, error: Exception) -> None:
        self._failures += 1
        delay = retry_delay(self._failures, self.retry_initial_seconds, self.retry_max_seconds)
        self._retry_at = self._clock() + delay
        if self._failures == 1:
            self.stats.inc_value(f"{STATS_PREFIX}/outages")
            logger.warning(
                "The store is unreachable (%s); items go to the spool %s until it answers",
                describe(error),
                self.spool.path,
            )
        else:
            logger.info("The store is still unreachable; next try in %.1f s", delay)
        self._online = False

    def _count(self, summary: WriteSummary) -> None:
        names = ("written", "upserted", "modified", "stale", "price_changes", "files_set", "files_missing")
        for name in names:
            self.stats.inc_value(f"{STATS_PREFIX}/{name}", getattr(summary, name))
        for refusal in summary.refused:
            self.stats.inc_value(f"{STATS_PREFIX}/dead_letters")
            self.stats.inc_value(f"{STATS_PREFIX}/dead_letters/{refusal.reason}")
            logger.error(
                "The store refused %s:%s for good (%s, code %s): %s; kept in dead_letters",
                refusal.operation.source,
                refusal.operation.source_id,
                refusal.reason,
                refusal.code,
                refusal.message,
            )

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("Store background work failed", exc_info=task.exception())
