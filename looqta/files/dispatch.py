"""Dispatch: claim runnable tasks while a worker is free, run them, record how each ended.

Claim → launch (submit the registry's worker function) → settle: a result is recorded with the
file's next step (:mod:`looqta.files.tasks`); a :class:`~looqta.files.checks.FileRejected` or
a time-out fails the task for good; a dead worker, a broken pool, an unreachable store or an
unexpected error puts it back with exponential backoff until ``max_attempts`` is used. Whoever
waits for a file's record or a task's row is answered here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import signal
from collections import deque
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pebble import ProcessExpired

from looqta.files.checks import FileRejected
from looqta.files.ownership import STORE_UNAVAILABLE, LostTask
from looqta.files.pool import BROKEN_POOL_ERRORS
from looqta.files.schema import DONE, FAILED, NewTask
from looqta.files.tasks import TASKS, record_of
from looqta.records import StoreUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from looqta.files.lifecycle import Lifecycle
    from looqta.files.schema import FileRow, Task

logger = logging.getLogger(__name__)

LATENCY_WINDOW = 1_000
MAX_BACKOFF_SECONDS = 300.0


def describe_exit(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-exitcode).name}"
    return f"exit code {exitcode}"


class Dispatcher:
    """Runs the tasks of one run's queue on the lifecycle's executor; answers their waiters."""

    def __init__(
        self,
        lifecycle: Lifecycle,
        handlers: Mapping[str, Callable[..., dict[str, Any]]] | None = None,
        *,
        clock: Callable[[], float],
    ) -> None:
        self.life = lifecycle
        self.config = lifecycle.config
        self.queue = lifecycle.queue
        self.counters = lifecycle.counters
        self.options = self.config.work_options()
        self.handlers = {**{name: task.function for name, task in TASKS.items()}, **(handlers or {})}
        self.clock = clock
        self.running: dict[int, asyncio.Future[None]] = {}
        self.file_waiters: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.task_waiters: dict[int, asyncio.Future[Task]] = {}
        self.latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.wake = asyncio.Event()
        self.progress = asyncio.Event()
        self.task_limit: int | None = None  #: file tasks at once (None: one per worker)
        self.stopped = False

    def fail_waiters(self, error: Exception) -> None:
        """Everyone waiting for a file or a task here gets ``error`` (the run lost its work)."""
        waiters = [*self.file_waiters.values(), *self.task_waiters.values()]
        self.file_waiters.clear()
        self.task_waiters.clear()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(error)

    async def loop(self) -> None:
        while not self.stopped:
            self.wake.clear()
            executor = self.life.require_executor()
            if not executor.healthy():
                await self.life.repair("the pool reported itself broken")
            capacity = executor.size if self.task_limit is None else min(executor.size, self.task_limit)
            free = capacity - len(self.running)
            claimed = await self.life.call(self.queue.claim, free) if free > 0 else []
            for task in claimed:
                self._launch(task)
            timeout: float | None = None
            if len(claimed) < free:  # nothing more is runnable now: sleep until the next backoff ends
                due = await self.life.call(self.queue.next_due)
                timeout = None if due is None else max(0.0, due - self.clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout)

    async def stop(self) -> None:
        """Cancel the tasks running here; they stay ``processing`` for the next run."""
        self.stopped = True
        self.wake.set()
        for running in list(self.running.values()):
            running.cancel()
        await asyncio.gather(*self.running.values(), return_exceptions=True)

    def _launch(self, task: Task) -> None:
        handler = self.handlers.get(task.type)
        if handler is None:
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            future.set_exception(FileRejected("unknown_task", f"no worker function for {task.type!r}"))
        else:
            try:
                submitted = self.life.require_executor().submit(
                    handler, (task.payload, self.options), self.config.task_timeout_seconds
                )
            except BROKEN_POOL_ERRORS as exc:  # the pool is gone: settle() repairs it and retries
                submitted = concurrent.futures.Future()
                submitted.set_exception(BrokenProcessPool(f"{type(exc).__name__}: {exc}"))
            future = asyncio.wrap_future(submitted)
        self.running[task.id] = asyncio.ensure_future(self._settle(task, future))

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
            self.running.pop(task.id, None)
            self.wake.set()
            self.progress.set()

    def _abandon(self, task: Task, error: Exception) -> None:
        waiters = [self.task_waiters.pop(task.id, None)]
        if task.file_id is not None:
            waiters.append(self.file_waiters.pop(task.file_id, None))
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
        except StoreUnavailable as exc:
            await self._retry_or_fail(task, STORE_UNAVAILABLE, f"{STORE_UNAVAILABLE}: {exc}")
        except ProcessExpired as exc:
            self.counters["worker_crashed"] += 1
            await self._retry_or_fail(task, "worker_crashed", f"the worker {describe_exit(exc.exitcode)}")
        except BrokenProcessPool as exc:
            await self.life.repair(str(exc))
            await self._retry_or_fail(task, "pool_broken", f"the pool broke ({exc})")
        except Exception as exc:  # a bug or an environment problem: retried, then recorded
            logger.warning("file task %d (%s) raised", task.id, task.type, exc_info=exc)
            await self._retry_or_fail(task, "error", f"{type(exc).__name__}: {exc}")
        else:
            await self._succeed(task, result)

    async def _succeed(self, task: Task, result: dict[str, Any]) -> None:
        finished: FileRow | None = None
        if task.file_id is None:
            await self.life.call(self.queue.complete, task.id, result)
        else:
            record = {**record_of(task.payload), **result}
            step = TASKS[task.type].next_step(record)
            follow_up = None
            if step is None:
                record.update(status=DONE, reason=None)
            else:
                follow_up = NewTask(step, record, task.priority, file_id=task.file_id, batch_id=task.batch_id)
            finished = await self.life.call(
                self.queue.complete, task.id, result, record=record, follow_up=follow_up
            )
        self.counters["tasks/done"] += 1
        if "outcome" in result and task.type in TASKS:  # e.g. store_records/updated
            self.counters[f"{task.type}/{result['outcome']}"] += 1
        await self._after(task, finished)

    async def _fail(self, task: Task, code: str, reason: str) -> None:
        record = None
        if task.file_id is not None:
            record = {**record_of(task.payload), "status": FAILED, "reason": f"{task.type}: {reason}"}
        finished = await self.life.call(self.queue.fail, task.id, reason, record=record)
        self.counters["tasks/failed"] += 1
        self.counters[f"failed/{code}"] += 1
        logger.warning("file task %d (%s) failed: %s", task.id, task.type, reason)
        await self._after(task, finished)

    async def _retry_or_fail(self, task: Task, code: str, reason: str) -> None:
        if task.attempts >= self.config.max_attempts:
            await self._fail(task, code, f"{reason}, on each of {task.attempts} attempts")
            return
        delay = min(self.config.retry_backoff_seconds * 2 ** (task.attempts - 1), MAX_BACKOFF_SECONDS)
        not_before = self.clock() + delay
        await self.life.call(self.queue.retry, task.id, f"{reason} (attempt {task.attempts})", not_before)
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

    async def _after(self, task: Task, finished: FileRow | None) -> None:
        """Bookkeeping once a task has a final status: latency, spool, waiters."""
        self.latencies.append(max(0.0, self.clock() - task.created_at))
        spec = TASKS.get(task.type)
        if spec is not None and spec.spooled:
            await self.life.call(Path(task.payload["spool"]).unlink, True)
        if finished is not None:
            waiter = self.file_waiters.pop(finished.id, None)
            if waiter is not None and not waiter.done():
                waiter.set_result(finished.record)
        waiter_task = self.task_waiters.pop(task.id, None)
        if waiter_task is not None and not waiter_task.done():
            waiter_task.set_result(await self.life.call(self.queue.get, task.id))
