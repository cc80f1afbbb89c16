"""The asyncio side of the file pool: spool bodies, dispatch tasks, record results, retry.

:class:`FileService` owns the queue (driven from one I/O thread, so SQLite commits and spool
writes never run on the event loop), the executor, and the dispatcher: a coroutine that claims
runnable tasks from the queue, highest priority first, as long as a worker is free, and awaits
each one's future without blocking the loop.

A file's tasks form a chain, each added in the transaction that records the previous result:

    store ──► thumbnail (images) ──► upload ──► file done
          └─► extract_text (PDF, DOCX) ──┘

When the last file of an item ends (done or failed), the queue adds the item's ``db_update``.

Failures: a :class:`~looqta.files.checks.FileRejected` or a time-out ends the task ``failed``
(retrying cannot help); a dead worker, a broken pool, an unreachable database
(:class:`~looqta.files.work.DbUnavailable`) or an unexpected error puts it back with exponential
backoff until ``max_attempts`` is used, then ends it ``failed`` with the reason.

The service is one *run* of the queue (:mod:`looqta.files.runs`): it claims only the tasks of
its own batches, renews its lease every ``heartbeat_interval_seconds`` and, at start and at each
renewal, takes over what dead runs left. Another crawl of the same spider may run meanwhile.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import signal
import statistics
import time
import uuid
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pebble import ProcessExpired

from looqta.files.checks import FileRejected
from looqta.files.pool import BROKEN_POOL_ERRORS, PoolStartError, fallback_executor, start_executor
from looqta.files.queue import (
    DB_UNAVAILABLE,
    DONE,
    FAILED,
    PENDING,
    PROCESSING,
    FileQueue,
    LostTask,
    NewTask,
)
from looqta.files.storage import is_temporary
from looqta.files.work import HANDLERS, DbUnavailable, is_image

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Mapping

    from looqta.files.config import DbTarget, FilesConfig
    from looqta.files.pool import TaskExecutor
    from looqta.files.queue import FileRow, Recovery, Task

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
#: Fields of a file's result record, in the order the feed shows them.
RECORD_FIELDS: tuple[str, ...] = (
    "url",
    "path",
    "checksum",
    "size",
    "mime_type",
    "thumbnail",
    "text_path",
    "text_length",
    "text_excerpt",
    "stored",
    "status",
    "reason",
)
LATENCY_WINDOW = 1_000
MAX_BACKOFF_SECONDS = 300.0


@dataclass(frozen=True)
class FilesSnapshot:
    pending: int
    processing: int
    done: int  #: tasks finished ``done`` in this run
    failed: int  #: tasks finished ``failed`` in this run
    workers_active: int
    workers_total: int
    latency_p50_seconds: float | None
    latency_p95_seconds: float | None
    executor: str


def next_step(task_type: str, record: Mapping[str, Any]) -> str | None:
    """The task that follows ``task_type`` in a file's chain; None when the file is finished."""
    if task_type == "store":
        return "thumbnail" if is_image(record["mime_type"]) else "extract_text"
    if task_type in ("thumbnail", "extract_text"):
        return "upload"
    return None


def record_of(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {name: payload[name] for name in RECORD_FIELDS if name in payload}


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(fraction * 100) - 1]


def describe_exit(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-exitcode).name}"
    return f"exit code {exitcode}"


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
        self.options = config.work_options()
        self.handlers = {**HANDLERS, **(handlers or {})}
        self.clock = clock
        self.queue = FileQueue(config.queue_path, clock, lease_seconds=config.run_lease_seconds)
        self.counters: Counter[str] = Counter()
        self.executor: TaskExecutor | None = None
        self._executor_factory = executor_factory
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="looqta-files-io")
        self._running: dict[int, asyncio.Future[None]] = {}
        self._file_waiters: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._task_waiters: dict[int, asyncio.Future[Task]] = {}
        self._latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._room = asyncio.Semaphore(config.max_in_flight)
        self._dispatcher: asyncio.Task[None] | None = None
        self._lease: asyncio.Task[None] | None = None
        self._start_size = config.max_workers
        self._task_limit: int | None = None  #: file tasks at once (None: one per worker)
        self._draining = False
        self._repairing: asyncio.Future[None] | None = None
        self._closed = False

    # lifecycle ---------------------------------------------------------------------------------

    async def _call(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """Run a queue or spool operation on the I/O thread."""
        call = functools.partial(fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._io, call)

    async def start(self, *, db_target: DbTarget | None = None) -> None:
        """Open the queue as a new run, take over what dead runs left, start the workers, the
        dispatcher and the lease. ``db_target`` is where ``db_update`` writes (the pipeline
        resolves it once; the workers get it in their :class:`~looqta.files.config.WorkOptions`)."""
        config = self.config
        self.options = config.work_options(db_target)
        await self._call(self.queue.open)
        recovery = await self._call(self.queue.recover, config.max_attempts)
        removed = await self._call(self._clean_spool, recovery.spool_paths, recovery.live_runs)
        self.counters["resumed"] = recovery.pending
        if recovery.adopted_tasks or recovery.pending or recovery.interrupted_files or removed:
            logger.warning(
                "file queue %s: resuming %d pending tasks (%d were processing when their run "
                "stopped, %d of them failed for having used all their attempts; %d DB updates "
                "retried); %d files whose download was interrupted marked failed; %d stray spool "
                "files removed; %d other runs alive",
                config.queue_path,
                recovery.pending,
                recovery.requeued,
                recovery.exhausted,
                recovery.retried_updates,
                recovery.interrupted_files,
                removed,
                len(recovery.live_runs),
            )
        elif recovery.live_runs:
            logger.info(
                "file queue %s: %d other runs of this spider are alive; this run (%s) keeps to its own tasks",
                config.queue_path,
                len(recovery.live_runs),
                self.queue.run_id,
            )
        self.executor = await asyncio.to_thread(
            start_executor,
            config.executor,
            self._start_size,
            start_method=config.start_method,
            nice=config.worker_nice,
            sched_idle=config.worker_sched_idle,
            cpu_seconds=config.task_cpu_seconds,
            factory=self._executor_factory,
        )
        self.counters["fallback"] = int(self.executor.kind == "thread")
        self._dispatcher = asyncio.ensure_future(self._dispatch())
        self._dispatcher.add_done_callback(self._dispatcher_done)
        self._lease = asyncio.ensure_future(self._keep_lease())
        self._lease.add_done_callback(self._lease_done)

    def _dispatcher_done(self, dispatcher: asyncio.Task[None]) -> None:
        if dispatcher.cancelled() or dispatcher.exception() is None:
            return
        error = dispatcher.exception()
        logger.critical("file dispatcher died; failing everything that waits on it", exc_info=error)
        for waiter in [*self._file_waiters.values(), *self._task_waiters.values()]:
            if not waiter.done():
                waiter.set_exception(RuntimeError(f"the file dispatcher died: {error!r}"))

    def _lease_done(self, lease: asyncio.Task[None]) -> None:
        if not lease.cancelled() and lease.exception() is not None:
            logger.critical(
                "file queue %s: the lease of this run (%s) is no longer renewed; after "
                "LOOQTA_FILES_RUN_LEASE_SECONDS another run may take its tasks over",
                self.config.queue_path,
                self.queue.run_id,
                exc_info=lease.exception(),
            )

    def _clean_spool(self, keep: frozenset[str], live_runs: frozenset[str]) -> int:
        """Remove spool files no pending or running task needs, and temporary files a crash left
        behind; never those of a run still alive (a spool file is named after its run)."""
        removed = 0
        self.config.spool_dir.mkdir(parents=True, exist_ok=True)
        self.config.objects_dir.mkdir(parents=True, exist_ok=True)
        for path in self.config.spool_dir.iterdir():
            run_id = path.name.split("-", 1)[0]
            if str(path) not in keep and run_id not in live_runs:
                path.unlink()
                removed += 1
        if live_runs:  # a live run's workers may be writing their temporary files right now
            return removed
        for path in self.config.objects_dir.rglob("*"):
            if path.is_file() and is_temporary(path):
                path.unlink()
                removed += 1
        return removed

    async def _keep_lease(self) -> None:
        """Renew this run's lease; take over what runs that died meanwhile left."""
        while True:
            await asyncio.sleep(self.config.heartbeat_interval_seconds)
            if not await self._call(self.queue.heartbeat):
                await self._presumed_dead()
            recovery = await self._call(self.queue.adopt, self.config.max_attempts)
            if recovery.adopted_runs:
                self._adopted(recovery)

    def _adopted(self, recovery: Recovery) -> None:
        self.counters["adopted"] += recovery.adopted_tasks
        if recovery.adopted_tasks or recovery.interrupted_files:
            logger.warning(
                "file queue %s: took over %d tasks of %d runs that died (%d were processing; %d "
                "failed for having used all their attempts); %d interrupted downloads marked failed",
                self.config.queue_path,
                recovery.adopted_tasks,
                recovery.adopted_runs,
                recovery.requeued,
                recovery.exhausted,
                recovery.interrupted_files,
            )
        self._wake.set()

    async def _presumed_dead(self) -> None:
        """Another run took this run's tasks over (this one missed its lease): whoever waits for
        them here is told so; the other run finishes them, DB update included. Carry on under a
        new run id."""
        logger.critical(
            "file queue %s: this run (%s) did not renew its lease within %.0fs "
            "(LOOQTA_FILES_RUN_LEASE_SECONDS); another run took its file tasks over. The items "
            "waiting for them here fail; their files are finished, and stored, by the other run.",
            self.config.queue_path,
            self.queue.run_id,
            self.config.run_lease_seconds,
        )
        error = RuntimeError("this item's file tasks were taken over by another run of the spider")
        waiters = [*self._file_waiters.values(), *self._task_waiters.values()]
        self._file_waiters.clear()
        self._task_waiters.clear()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(error)
        self.counters["presumed_dead"] += 1
        await self._call(self.queue.rejoin)

    async def drain(self, timeout: float) -> bool:
        """Wait until no task is pending or processing, at most ``timeout`` seconds; True if so.

        A task limit (:meth:`limit_tasks`) is lifted for good: the crawl is over, nothing is left
        for the limit to make room for, and the workers stay niced.
        """
        self._draining = True
        self._task_limit = None
        deadline = time.monotonic() + timeout
        while True:
            self._progress.clear()
            self._wake.set()
            counts = await self._call(self.queue.counts)
            if not counts[PENDING] and not counts[PROCESSING]:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), remaining)

    async def close(self) -> None:
        """Stop dispatching and stop the workers, and end the run. Tasks still running stay
        ``processing`` in the queue and are taken over by the next run."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        if self._lease is not None:
            self._lease.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._lease
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
        for running in list(self._running.values()):
            running.cancel()
        await asyncio.gather(*self._running.values(), return_exceptions=True)
        if self.executor is not None:
            await asyncio.to_thread(self.executor.shutdown)
        await self._call(self.queue.close)
        self._io.shutdown(wait=True)

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

        ``item`` (plain JSON values) rides along to the item's ``db_update``."""
        return await self._call(self.queue.add_batch, item_key, files, priority, item)

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
        """Spool a downloaded body to disk and queue its ``store`` task; a future of the file's
        final record. Drop the body before awaiting it: from here on it lives on disk only."""
        waiter: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._file_waiters[file_id] = waiter
        payload = {
            "url": url,
            "kind": kind,
            "declared_type": declared_type,
            "declared_name": declared_name,
        }
        try:
            await self._call(self._spool_and_queue, file_id, body, payload, priority)
        except BaseException:
            self._file_waiters.pop(file_id, None)
            raise
        self._wake.set()
        return waiter

    def _spool_and_queue(self, file_id: int, body: bytes, payload: dict[str, Any], priority: int) -> None:
        spool_dir = self.config.spool_dir
        spool = spool_dir / f"{self.queue.run_id}-{file_id}-{uuid.uuid4().hex}.body"
        tmp = spool.with_name(spool.name + ".tmp-")
        tmp.write_bytes(body)
        tmp.replace(spool)
        try:
            self.queue.add_task(NewTask("store", {**payload, "spool": str(spool)}, priority, file_id=file_id))
        except BaseException:
            spool.unlink()
            raise

    async def fail_download(self, file_id: int, url: str, code: str, detail: str) -> dict[str, Any]:
        """A file whose download failed ends ``failed``; its record."""
        reason = f"download: {code}: {detail}"
        record = {"url": url, "status": FAILED, "reason": reason}
        await self._call(self.queue.fail_file, file_id, reason, record)
        self.counters[f"failed/{code}"] += 1
        self._wake.set()  # the item's last file may have ended: its db_update is queued
        return record

    async def run(self, task_type: str, payload: dict[str, Any], priority: int = 0) -> Task:
        """Queue one task that belongs to no file and await its final row (done or failed)."""
        waiter: asyncio.Future[Task] = asyncio.get_running_loop().create_future()
        task_id = await self._call(self.queue.add_task, NewTask(task_type, payload, priority))
        self._task_waiters[task_id] = waiter
        self._wake.set()
        return await waiter

    async def tasks(self, status: str | None = None) -> list[Task]:
        """The queue's tasks (all, or those in ``status``), oldest first."""
        return await self._call(self.queue.tasks, status)

    # sizing and numbers ------------------------------------------------------------------------

    def clamp(self, size: int) -> int:
        return min(max(size, self.config.min_workers), self.config.max_workers)

    async def resize(self, size: int) -> int:
        """Run ``size`` workers (clamped to the configured bounds); the size now running."""
        target = self.clamp(size)
        executor = self.executor
        if executor is None:  # asked before start(): start at that size
            self._start_size = target
            return target
        if executor.kind != "process" or target == executor.size:
            return executor.size
        try:
            prepared = await asyncio.to_thread(executor.prepare, target)
        except PoolStartError as exc:
            logger.error(
                "file pool: could not resize to %d workers (%s); keeping %d", target, exc, executor.size
            )
            return executor.size
        executor.install(prepared, target)
        self.counters["resized"] += 1
        logger.info("file pool resized to %d workers", target)
        self._wake.set()
        return target

    def limit_tasks(self, tasks: int | None) -> None:
        """Start no task while ``tasks`` or more run (None: one per worker; 0 holds new work).

        For the resource throttle's file gate: cheaper than :meth:`resize` (no process starts or
        stops), and tasks running go on to their end. Held tasks stay queued.
        """
        if tasks is not None and tasks < 0:
            raise ValueError(f"tasks must be >= 0 or None, got {tasks}")
        if self._draining:
            return  # the crawl is over: see drain()
        self._task_limit = tasks
        self._wake.set()

    @property
    def running(self) -> int:
        """Tasks running now."""
        return len(self._running)

    async def snapshot(self) -> FilesSnapshot:
        counts = await self._call(self.queue.counts)
        latencies = sorted(self._latencies)
        executor = self.executor
        return FilesSnapshot(
            pending=counts[PENDING],
            processing=counts[PROCESSING],
            done=self.counters["done"],
            failed=self.counters["failed"],
            workers_active=len(self._running),
            workers_total=0 if executor is None else executor.size,
            latency_p50_seconds=percentile(latencies, 0.50),
            latency_p95_seconds=percentile(latencies, 0.95),
            executor="none" if executor is None else executor.kind,
        )

    def _require_executor(self) -> TaskExecutor:
        if self.executor is None:
            raise RuntimeError("the file service is not started")
        return self.executor

    # dispatching -------------------------------------------------------------------------------

    async def _dispatch(self) -> None:
        while not self._closed:
            self._wake.clear()
            executor = self._require_executor()
            if not executor.healthy():
                await self._repair("the pool reported itself broken")
            capacity = executor.size if self._task_limit is None else min(executor.size, self._task_limit)
            free = capacity - len(self._running)
            claimed = await self._call(self.queue.claim, free) if free > 0 else []
            for task in claimed:
                self._launch(task)
            timeout: float | None = None
            if len(claimed) < free:  # nothing more is runnable now: sleep until the next backoff ends
                due = await self._call(self.queue.next_due)
                timeout = None if due is None else max(0.0, due - self.clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _launch(self, task: Task) -> None:
        handler = self.handlers.get(task.type)
        if handler is None:
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            future.set_exception(FileRejected("unknown_task", f"no worker function for {task.type!r}"))
        else:
            try:
                submitted = self._require_executor().submit(
                    handler, (task.payload, self.options), self.config.task_timeout_seconds
                )
            except BROKEN_POOL_ERRORS as exc:  # the pool is gone: settle() repairs it and retries
                submitted = concurrent.futures.Future()
                submitted.set_exception(BrokenProcessPool(f"{type(exc).__name__}: {exc}"))
            future = asyncio.wrap_future(submitted)
        self._running[task.id] = asyncio.ensure_future(self._settle(task, future))

    async def _settle(self, task: Task, future: asyncio.Future[Any]) -> None:
        try:
            await self._record(task, future)
        except LostTask as exc:  # another run presumed this one dead and finished the task
            self.counters["lost"] += 1
            logger.warning("file task %d (%s): %s; the result here is discarded", task.id, task.type, exc)
            self._abandon(task, exc)
        except Exception as exc:  # recording failed: whoever awaits this task must not hang
            logger.critical(
                "file task %d (%s): could not record its outcome", task.id, task.type, exc_info=exc
            )
            self._abandon(task, exc)
        finally:
            self._running.pop(task.id, None)
            self._wake.set()
            self._progress.set()

    def _abandon(self, task: Task, error: Exception) -> None:
        waiters = [self._task_waiters.pop(task.id, None)]
        if task.file_id is not None:
            waiters.append(self._file_waiters.pop(task.file_id, None))
        for waiter in waiters:
            if waiter is not None and not waiter.done():
                waiter.set_exception(error)

    async def _record(self, task: Task, future: asyncio.Future[Any]) -> None:
        """Await the task's outcome and record it: done, failed, or back to pending."""
        try:
            result = await future
        except FileRejected as exc:
            await self._fail(task, exc.code, exc.reason)
        except concurrent.futures.TimeoutError:
            limit = self.config.task_timeout_seconds
            await self._fail(task, "timeout", f"timeout: still running after {limit:g}s; worker stopped")
        except DbUnavailable as exc:
            await self._retry_or_fail(task, DB_UNAVAILABLE, f"{DB_UNAVAILABLE}: {exc}")
        except ProcessExpired as exc:
            self.counters["worker_crashed"] += 1
            await self._retry_or_fail(task, "worker_crashed", f"the worker {describe_exit(exc.exitcode)}")
        except BrokenProcessPool as exc:
            await self._repair(str(exc))
            await self._retry_or_fail(task, "pool_broken", f"the pool broke ({exc})")
        except Exception as exc:  # a bug or an environment problem: retried, then recorded
            logger.warning("file task %d (%s) raised", task.id, task.type, exc_info=exc)
            await self._retry_or_fail(task, "error", f"{type(exc).__name__}: {exc}")
        else:
            await self._succeed(task, result)

    async def _repair(self, why: str) -> None:
        """Replace a broken pool, once however many tasks notice it."""
        if self._repairing is None:
            self._repairing = asyncio.ensure_future(self._do_repair(why))
        repairing = self._repairing
        await asyncio.shield(repairing)

    async def _do_repair(self, why: str) -> None:
        executor = self._require_executor()
        try:
            if executor.healthy():
                return
            logger.error("file pool broken (%s): starting %d new workers", why, executor.size)
            try:
                prepared = await asyncio.to_thread(executor.prepare, executor.size)
            except PoolStartError as exc:
                self.executor = fallback_executor(f"the broken pool could not be replaced ({exc})")
                self.counters["fallback"] = 1
                await asyncio.to_thread(executor.shutdown)
                return
            executor.install(prepared, executor.size)
            self.counters["pool_repaired"] += 1
        finally:
            self._repairing = None

    async def _succeed(self, task: Task, result: dict[str, Any]) -> None:
        finished: FileRow | None = None
        if task.file_id is None:
            await self._call(self.queue.complete, task.id, result)
        else:
            record = {**record_of(task.payload), **result}
            step = next_step(task.type, record)
            follow_up = None
            if step is None:
                record.update(status=DONE, reason=None)
            else:
                follow_up = NewTask(step, record, task.priority, file_id=task.file_id, batch_id=task.batch_id)
            finished = await self._call(
                self.queue.complete, task.id, result, record=record, follow_up=follow_up
            )
        self.counters["done"] += 1
        if task.type == "db_update":  # e.g. db_update/inserted: a product only the DB update wrote
            self.counters[f"db_update/{result.get('action', 'done')}"] += 1
        await self._after(task, DONE, finished)

    async def _fail(self, task: Task, code: str, reason: str) -> None:
        record = None
        if task.file_id is not None:
            record = {**record_of(task.payload), "status": FAILED, "reason": f"{task.type}: {reason}"}
        finished = await self._call(self.queue.fail, task.id, reason, record=record)
        self.counters["failed"] += 1
        self.counters[f"failed/{code}"] += 1
        logger.warning("file task %d (%s) failed: %s", task.id, task.type, reason)
        await self._after(task, FAILED, finished)

    async def _retry_or_fail(self, task: Task, code: str, reason: str) -> None:
        if task.attempts >= self.config.max_attempts:
            await self._fail(task, code, f"{reason}, on each of {task.attempts} attempts")
            return
        delay = min(self.config.retry_backoff_seconds * 2 ** (task.attempts - 1), MAX_BACKOFF_SECONDS)
        not_before = self.clock() + delay
        await self._call(self.queue.retry, task.id, f"{reason} (attempt {task.attempts})", not_before)
        self.counters["retried"] += 1
        logger.warning(
            "file task %d (%s) attempt %d/%d: %s; retrying in %.1fs",
            task.id,
            task.type,
            task.attempts,
            self.config.max_attempts,
            reason,
            delay,
        )

    async def _after(self, task: Task, status: str, finished: FileRow | None) -> None:
        """Bookkeeping once a task has a final status: latency, spool, waiters."""
        self._latencies.append(max(0.0, self.clock() - task.created_at))
        if task.type == "store":
            await self._call(Path(task.payload["spool"]).unlink, True)
        if finished is not None:
            waiter = self._file_waiters.pop(finished.id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(finished.record)
        waiter_task = self._task_waiters.pop(task.id, None)
        if waiter_task is not None and not waiter_task.done():
            waiter_task.set_result(await self._call(self.queue.get, task.id))
