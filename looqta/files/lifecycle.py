"""The file pool's lifecycle: open the queue as a run, start the workers, keep the lease, repair
a broken pool, drain, close. Dispatching itself is :mod:`looqta.files.dispatch`.

Every queue and spool operation runs on one I/O thread (:meth:`Lifecycle.call`), so SQLite
commits and spool writes never run on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from looqta.files.dispatch import Dispatcher
from looqta.files.pool import PoolStartError, start_executor, unavailable_executor
from looqta.files.schema import PENDING, PROCESSING
from looqta.files.storage import is_temporary

if TYPE_CHECKING:
    from collections import Counter
    from collections.abc import Callable, Mapping

    from looqta.files.config import FilesConfig
    from looqta.files.ownership import Recovery
    from looqta.files.pool import TaskExecutor
    from looqta.files.queue import FileQueue
    from looqta.records import WorkerStore

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


class Lifecycle:
    """One run of the queue: its I/O thread, its executor, its dispatcher and its lease."""

    def __init__(
        self,
        config: FilesConfig,
        queue: FileQueue,
        counters: Counter[str],
        *,
        handlers: Mapping[str, Callable[..., dict[str, Any]]] | None = None,
        executor_factory: Callable[[], TaskExecutor] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.queue = queue
        self.counters = counters
        self.executor: TaskExecutor | None = None
        self.start_size = config.max_workers
        self.draining = False
        self.closed = False
        self._executor_factory = executor_factory
        self._io = ThreadPoolExecutor(max_workers=1, thread_name_prefix="looqta-files-io")
        self._repairing: asyncio.Future[None] | None = None
        self._loop: asyncio.Task[None] | None = None
        self._lease: asyncio.Task[None] | None = None
        self.dispatcher = Dispatcher(self, handlers, clock=clock)

    async def call(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """Run a queue or spool operation on the I/O thread."""
        call = functools.partial(fn, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._io, call)

    def require_executor(self) -> TaskExecutor:
        if self.executor is None:
            raise RuntimeError("the file service is not started")
        return self.executor

    async def start(self, worker_store: WorkerStore | None = None) -> None:
        """Open the queue as a new run, take over what dead runs left, start the workers, the
        dispatcher and the lease. ``worker_store`` is how workers write the records of batches
        whose item is gone (None: the store is off)."""
        config = self.config
        self.dispatcher.options = config.work_options(worker_store)
        await self.call(self.queue.open)
        recovery = await self.call(self.queue.recover, config.max_attempts)
        removed = await self.call(self._clean_spool, recovery.spool_paths, recovery.live_runs)
        self.counters["resumed"] = recovery.pending
        if recovery.adopted_tasks or recovery.pending or recovery.interrupted_files or removed:
            logger.warning(
                "file queue %s: resuming %d pending tasks (%d were processing when their run "
                "stopped, %d of them failed for having used all their attempts; %d store writes "
                "retried); %d files whose download was interrupted marked failed; %d stray spool "
                "files removed; %d other runs alive",
                config.queue_path,
                recovery.pending,
                recovery.requeued,
                recovery.exhausted,
                recovery.retried_writes,
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
            self.start_size,
            start_method=config.start_method,
            nice=config.worker_nice,
            sched_idle=config.worker_sched_idle,
            cpu_seconds=config.task_cpu_seconds,
            memory_bytes=config.worker_memory_bytes,
            file_size_bytes=config.worker_file_size_bytes,
            factory=self._executor_factory,
        )
        self.counters["pool_unavailable"] = int(self.executor.kind == "unavailable")
        self._loop = asyncio.ensure_future(self.dispatcher.loop())
        self._loop.add_done_callback(self._dispatcher_done)
        self._lease = asyncio.ensure_future(self._keep_lease())
        self._lease.add_done_callback(self._lease_done)

    def _dispatcher_done(self, loop: asyncio.Task[None]) -> None:
        if loop.cancelled() or loop.exception() is None:
            return
        error = loop.exception()
        logger.critical("file dispatcher died; failing everything that waits on it", exc_info=error)
        self.dispatcher.fail_waiters(RuntimeError(f"the file dispatcher died: {error!r}"))

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
        ownership = self.queue.ownership
        while True:
            await asyncio.sleep(self.config.heartbeat_interval_seconds)
            if not await self.call(ownership.heartbeat):
                await self._presumed_dead()
            recovery = await self.call(ownership.adopt, self.config.max_attempts)
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
        self.dispatcher.wake.set()

    async def _presumed_dead(self) -> None:
        """Another run took this run's tasks over (this one missed its lease): whoever waits for
        them here is told so; the other run finishes them and writes their records to the store.
        Carry on under a new run id."""
        logger.critical(
            "file queue %s: this run (%s) did not renew its lease within %.0fs "
            "(LOOQTA_FILES_RUN_LEASE_SECONDS); another run took its file tasks over. The items "
            "waiting for them here fail; their files are finished, and stored, by the other run.",
            self.config.queue_path,
            self.queue.run_id,
            self.config.run_lease_seconds,
        )
        self.dispatcher.fail_waiters(
            RuntimeError("this item's file tasks were taken over by another run of the spider")
        )
        self.counters["presumed_dead"] += 1
        await self.call(self.queue.ownership.rejoin)

    async def repair(self, why: str) -> None:
        """Replace a broken pool, once however many tasks notice it."""
        if self._repairing is None:
            self._repairing = asyncio.ensure_future(self._do_repair(why))
        repairing = self._repairing
        await asyncio.shield(repairing)

    async def _do_repair(self, why: str) -> None:
        executor = self.require_executor()
        try:
            if executor.healthy():
                return
            logger.error("file pool broken (%s): starting %d new workers", why, executor.size)
            try:
                prepared = await asyncio.to_thread(executor.prepare, executor.size)
            except PoolStartError as exc:
                self.executor = unavailable_executor(f"the broken pool could not be replaced ({exc})")
                self.counters["pool_unavailable"] = 1
                await asyncio.to_thread(executor.shutdown)
                return
            executor.install(prepared, executor.size)
            self.counters["pool_repaired"] += 1
        finally:
            self._repairing = None

    async def resize(self, target: int) -> int:
        """Run ``target`` workers (already clamped); the size now running."""
        executor = self.executor
        if executor is None:  # asked before start(): start at that size
            self.start_size = target
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
        self.dispatcher.wake.set()
        return target

    async def drain(self, timeout: float) -> bool:
        """Wait until no task is pending or processing, at most ``timeout`` seconds; True if so.

        A task limit is lifted for good: the crawl is over, nothing is left for the limit to make
        room for, and the workers stay niced.
        """
        self.draining = True
        dispatcher = self.dispatcher
        dispatcher.task_limit = None
        deadline = time.monotonic() + timeout
        while True:
            dispatcher.progress.clear()
            dispatcher.wake.set()
            counts = await self.call(self.queue.counts)
            if not counts[PENDING] and not counts[PROCESSING]:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(dispatcher.progress.wait(), remaining)

    async def close(self) -> None:
        """Stop dispatching and stop the workers, and end the run. Tasks still running stay
        ``processing`` in the queue and are taken over by the next run."""
        if self.closed:
            return
        self.closed = True
        self.dispatcher.stopped = True
        self.dispatcher.wake.set()
        for background in (self._lease, self._loop):
            if background is not None:
                background.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await background
        await self.dispatcher.stop()
        if self.executor is not None:
            await asyncio.to_thread(self.executor.shutdown)
        await self.call(self.queue.close)
        self._io.shutdown(wait=True)
