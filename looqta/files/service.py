"""The file pool as the pipeline sees it: register an item's files, hand over bodies, await records.

:class:`FileService` is the facade over one run of the queue: its lifecycle
(:mod:`looqta.files.lifecycle`: start, lease, repair, drain, close) and its dispatcher
(:mod:`looqta.files.dispatch`). The throttle's controls (:meth:`FileService.resize`,
:meth:`FileService.limit_tasks`, :attr:`FileService.running`) are here too. docs/files.md has
the whole path.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from looqta.files.lifecycle import Lifecycle
from looqta.files.queue import FAILED, PENDING, PROCESSING, FileQueue, NewTask
from looqta.files.schema import DONE, DOWNLOADING
from looqta.files.tasks import FIRST_STEP

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Mapping

    from looqta.files.config import FilesConfig, WorkOptions
    from looqta.files.pool import TaskExecutor
    from looqta.files.queue import Task
    from looqta.records import WorkerStore


@dataclass(frozen=True)
class FilesSnapshot:
    pending: int  #: this run's tasks waiting in the queue
    processing: int  #: this run's tasks running
    done: int  #: tasks finished ``done`` in this run
    failed: int  #: tasks finished ``failed`` in this run
    workers_active: int
    workers_total: int
    latency_p50_seconds: float | None
    latency_p95_seconds: float | None
    executor: str
    files_pending: int = 0  #: files of this run's items not ended yet (downloading or in tasks)
    files_done: int = 0  #: files of this run's items that ended ``done``
    files_failed: int = 0  #: files of this run's items that ended ``failed``


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


class FileService:
    def __init__(
        self,
        config: FilesConfig,
        *,
        handlers: Mapping[str, Callable[..., dict[str, Any]]] | None = None,
        executor_factory: Callable[[], TaskExecutor] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.queue = FileQueue(config.queue_path, clock, lease_seconds=config.run_lease_seconds)
        self.counters: Counter[str] = Counter()
        self.lifecycle = Lifecycle(
            config,
            self.queue,
            self.counters,
            handlers=handlers,
            executor_factory=executor_factory,
            clock=clock,
        )
        self.dispatcher = self.lifecycle.dispatcher
        self._room = asyncio.Semaphore(config.max_in_flight)

    @property
    def executor(self) -> TaskExecutor | None:
        return self.lifecycle.executor

    @property
    def options(self) -> WorkOptions:
        return self.dispatcher.options

    # lifecycle ---------------------------------------------------------------------------------

    async def start(self, *, worker_store: WorkerStore | None = None) -> None:
        """Start the run (:meth:`Lifecycle.start`)."""
        await self.lifecycle.start(worker_store)

    async def drain(self, timeout: float) -> bool:
        """Wait until no task is pending or processing, at most ``timeout`` seconds; True if so."""
        return await self.lifecycle.drain(timeout)

    async def close(self) -> None:
        await self.lifecycle.close()

    # the pipeline's side -----------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def in_flight(self) -> AsyncIterator[None]:
        """Held by each file from before its download until its record is final: at most
        ``max_in_flight`` at once. Past that, new downloads wait here (back-pressure)."""
        if self._room.locked():
            self.counters["backpressure_waits"] += 1
        async with self._room:
            yield

    async def open_batch(
        self,
        item_key: str,
        files: list[tuple[str, str]],
        priority: int,
        item: dict[str, Any] | None = None,
    ) -> list[int]:
        """Register an item's files (``(url, kind)``, kind ``image`` or ``document``); their ids.

        ``item`` (plain JSON values) is what ``store_records`` needs should the item be gone when
        its files end."""
        return await self.lifecycle.call(self.queue.add_batch, item_key, files, priority, item)

    async def add_body(
        self,
        file_id: int,
        url: str,
        kind: str,
        body: bytes,
        *,
        declared_type: str | None,
        declared_name: str,
        priority: int,
    ) -> asyncio.Future[dict[str, Any]]:
        """Spool a downloaded body to disk and queue the file's first task; a future of the file's
        final record. Drop the body before awaiting it: from here on it lives on disk only."""
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        waiters = self.dispatcher.file_waiters
        waiters[file_id] = waiter
        payload = {"url": url, "kind": kind, "declared_type": declared_type, "declared_name": declared_name}
        try:
            await self.lifecycle.call(self._spool_and_queue, file_id, body, payload, priority)
        except BaseException:
            waiters.pop(file_id, None)
            raise
        self.dispatcher.wake.set()
        return waiter

    def _spool_and_queue(self, file_id: int, body: bytes, payload: dict[str, Any], priority: int) -> None:
        spool = self.config.spool_dir / f"{self.queue.run_id}-{file_id}-{uuid.uuid4().hex}.body"
        tmp = spool.with_name(spool.name + ".tmp-")
        tmp.write_bytes(body)
        tmp.replace(spool)
        try:
            self.queue.add_task(
                NewTask(FIRST_STEP, {**payload, "spool": str(spool)}, priority, file_id=file_id)
            )
        except BaseException:
            spool.unlink()
            raise

    async def answered(self, file_id: int) -> None:
        """The item of ``file_id``'s batch has its records: should its run die now, no worker
        writes them again."""
        await self.lifecycle.call(self.queue.answered, file_id)

    async def fail_download(self, file_id: int, url: str, code: str, detail: str) -> dict[str, Any]:
        """A file whose download failed ends ``failed``; its record."""
        reason = f"download: {code}: {detail}"
        record = {"url": url, "status": FAILED, "reason": reason}
        await self.lifecycle.call(self.queue.fail_file, file_id, reason, record)
        self.counters[f"failed/{code}"] += 1
        self.dispatcher.wake.set()
        return record

    async def run(self, task_type: str, payload: dict[str, Any], priority: int = 0) -> Task:
        """Queue one task that belongs to no file and await its final row (done or failed)."""
        waiter: asyncio.Future[Task] = asyncio.get_running_loop().create_future()
        task_id = await self.lifecycle.call(self.queue.add_task, NewTask(task_type, payload, priority))
        self.dispatcher.task_waiters[task_id] = waiter
        self.dispatcher.wake.set()
        return await waiter

    async def tasks(self, status: str | None = None) -> list[Task]:
        """The queue's tasks (all, or those in ``status``), oldest first."""
        return await self.lifecycle.call(self.queue.tasks, status)

    # the throttle's controls, and numbers ------------------------------------------------------

    def clamp(self, size: int) -> int:
        return min(max(size, self.config.min_workers), self.config.max_workers)

    async def resize(self, size: int) -> int:
        """Run ``size`` workers (clamped to the configured bounds); the size now running."""
        return await self.lifecycle.resize(self.clamp(size))

    def limit_tasks(self, tasks: int | None) -> None:
        """Start no task while ``tasks`` or more run (None: one per worker; 0 holds new work).

        For the resource throttle's file gate: cheaper than :meth:`resize` (no process starts or
        stops), and tasks running go on to their end. Held tasks stay queued. Ignored once the
        crawl drains.
        """
        if tasks is not None and tasks < 0:
            raise ValueError(f"tasks must be >= 0 or None, got {tasks}")
        if self.lifecycle.draining:
            return
        self.dispatcher.task_limit = tasks
        self.dispatcher.wake.set()

    @property
    def running(self) -> int:
        """Tasks running now."""
        return len(self.dispatcher.running)

    async def snapshot(self) -> FilesSnapshot:
        counts = await self.lifecycle.call(self.queue.counts)
        files = await self.lifecycle.call(self.queue.file_counts)
        latencies = sorted(self.dispatcher.latencies)
        executor = self.executor
        return FilesSnapshot(
            pending=counts[PENDING],
            processing=counts[PROCESSING],
            done=self.counters["tasks/done"],
            failed=self.counters["tasks/failed"],
            workers_active=len(self.dispatcher.running),
            workers_total=0 if executor is None else executor.size,
            latency_p50_seconds=percentile(latencies, 0.50),
            latency_p95_seconds=percentile(latencies, 0.95),
            executor="none" if executor is None else executor.kind,
            files_pending=files[DOWNLOADING] + files[PROCESSING],
            files_done=files[DONE],
            files_failed=files[FAILED],
        )
