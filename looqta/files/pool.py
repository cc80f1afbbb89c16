"""Where worker functions run: a fixed-size pebble process pool, and nowhere else.

Every executor returns ``concurrent.futures.Future`` objects, so the service awaits them the
same way. :class:`ProcessExecutor` is the real one:

* fixed size; to resize, :meth:`~ProcessExecutor.prepare` a pool of ``n`` (off the event loop)
  and :meth:`~ProcessExecutor.install` it; the old pool finishes what it runs, then exits
  (pebble has no in-place resize, and this keeps to its public API);
* a worker killed mid-task fails that task's future with ``ProcessExpired`` and pebble starts
  a replacement; a pool pebble itself declares broken is replaced the same way (repair);
* the per-task time limit is pebble's: the worker is killed and the future raises
  ``TimeoutError``.

:func:`start_executor` health-checks the pool (a ``ping`` per worker). When it cannot start,
:class:`UnavailableExecutor` fails every task with ``pool_unavailable`` and the reason: hostile
files are never parsed in the crawl's process, and the crawl goes on without their records.
:class:`InlineExecutor` runs the work on the caller's thread: the benchmark's "inline" baseline.
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import threading
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any, Protocol

from pebble import ProcessPool

from looqta.files import work
from looqta.files.checks import FileRejected

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Future

logger = logging.getLogger(__name__)

#: How long every worker of a new pool has to answer its first ``ping``.
START_TIMEOUT_SECONDS = 30.0
#: Errors that mean "this pool is gone", as opposed to "this task failed".
BROKEN_POOL_ERRORS: tuple[type[BaseException], ...] = (BrokenProcessPool, RuntimeError)


class PoolStartError(RuntimeError):
    """The process pool could not run a single task."""


class TaskExecutor(Protocol):
    kind: str

    @property
    def size(self) -> int: ...

    def submit(self, fn: Callable[..., Any], args: tuple[Any, ...], timeout: float | None) -> Future[Any]: ...

    def healthy(self) -> bool: ...

    def prepare(self, size: int) -> Any:
        """Build (blocking) what :meth:`install` swaps in to resize or repair; may raise
        :class:`PoolStartError`."""
        ...

    def install(self, prepared: Any, size: int) -> None: ...

    def shutdown(self) -> None:
        """Stop the workers (blocking: call it off the event loop)."""
        ...


class ProcessExecutor:
    kind = "process"

    def __init__(
        self,
        size: int,
        *,
        start_method: str = "forkserver",
        nice: int = 0,
        sched_idle: bool = False,
        cpu_seconds: float | None = None,
        memory_bytes: int = 0,
        file_size_bytes: int = 0,
    ) -> None:
        self._context = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            # Workers fork from a server that imported the worker code once, not from the crawl.
            self._context.set_forkserver_preload(["looqta.files.work"])
        self._nice = nice
        self._sched_idle = sched_idle
        self._cpu_seconds = cpu_seconds
        self._memory_bytes = memory_bytes
        self._file_size_bytes = file_size_bytes
        self._size = size
        self._retiring: list[threading.Thread] = []
        self._pool: ProcessPool | None = None  # until start()

    def _new_pool(self, size: int) -> ProcessPool:
        return ProcessPool(
            max_workers=size,
            initializer=work.init_worker,
            initargs=(self._nice, self._sched_idle, self._memory_bytes, self._file_size_bytes),
            context=self._context,
        )

    @property
    def size(self) -> int:
        return self._size

    def submit(self, fn: Callable[..., Any], args: tuple[Any, ...], timeout: float | None) -> Future[Any]:
        """Run ``fn(*args)`` in a worker, within ``cpu_seconds`` of CPU time and the worker's memory
        and file-size limits (:func:`~looqta.files.work.within_limits`), and ``timeout`` seconds
        of wall-clock time (pebble stops the worker)."""
        if self._pool is None:
            raise RuntimeError("the file worker pool is not started")
        args = (self._cpu_seconds, fn, *args)
        return self._pool.schedule(work.within_limits, args=args, timeout=timeout)

    def healthy(self) -> bool:
        return self._pool is not None and self._pool.active

    def prepare(self, size: int, timeout: float = START_TIMEOUT_SECONDS) -> ProcessPool:
        """A new pool of ``size`` whose workers have started and run our code. Blocking: call it
        off the event loop (forking workers takes a while), then :meth:`install` the result."""
        pool = self._new_pool(size)
        try:
            for future in [pool.schedule(work.ping, timeout=timeout) for _ in range(size)]:
                future.result(timeout)
        except (OSError, EOFError, RuntimeError, concurrent.futures.TimeoutError) as exc:
            pool.stop()
            self._retire(pool)
            raise PoolStartError(f"{type(exc).__name__}: {exc}") from exc
        return pool

    def install(self, pool: ProcessPool, size: int) -> None:
        """Serve new tasks from ``pool``; the previous pool finishes its running tasks, then exits
        (or is stopped at once when it is broken). Quick: call it on the event loop."""
        old, self._pool, self._size = self._pool, pool, size
        if old is None:
            return
        if old.active:
            old.close()
        else:
            old.stop()
        self._retire(old)

    def _retire(self, pool: ProcessPool) -> None:
        # join() blocks until the pool's tasks are done and its workers have exited: a one-shot
        # thread per retired pool, so neither the event loop nor the caller waits for it.
        self._retiring = [thread for thread in self._retiring if thread.is_alive()]
        thread = threading.Thread(target=pool.join, name="looqta-files-retire", daemon=True)
        thread.start()
        self._retiring.append(thread)

    def start(self) -> None:
        """Start the first pool (blocking)."""
        self.install(self.prepare(self._size), self._size)

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.stop()
            self._pool.join()
            self._pool = None
        for thread in self._retiring:
            thread.join()
        self._retiring = []


class _InProcessExecutor:
    """What the executors without worker processes share: one slot, always healthy, nothing to resize."""

    @property
    def size(self) -> int:
        return 1

    def healthy(self) -> bool:
        return True

    def prepare(self, size: int) -> None:
        return None

    def install(self, prepared: Any, size: int) -> None:
        return None


class UnavailableExecutor(_InProcessExecutor):
    """No pool could start: every task fails at once with ``pool_unavailable`` and ``why``.

    Nothing runs in the crawl's process: a hostile file parsed there would have no memory,
    file-size or time limit, and could take the crawl down."""

    kind = "unavailable"

    def __init__(self, why: str) -> None:
        self.why = why

    def submit(self, fn: Callable[..., Any], args: tuple[Any, ...], timeout: float | None) -> Future[Any]:
        future: Future[Any] = concurrent.futures.Future()
        future.set_exception(FileRejected("pool_unavailable", self.why))
        return future

    def shutdown(self) -> None:
        return None


class InlineExecutor(_InProcessExecutor):
    """Runs each task on the calling thread before ``submit`` returns (the crawl's event loop)."""

    kind = "inline"

    def submit(self, fn: Callable[..., Any], args: tuple[Any, ...], timeout: float | None) -> Future[Any]:
        future: Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args))
        except Exception as exc:  # noqa: BLE001 - handed on in the future, as concurrent.futures does
            future.set_exception(exc)
        return future

    def shutdown(self) -> None:
        return None


def unavailable_executor(why: str) -> UnavailableExecutor:
    """The executor of a crawl without a pool, announced at CRITICAL level: its files all fail."""
    logger.critical(
        "%s. File tasks FAIL with pool_unavailable: no file of this crawl is processed (they are "
        "never parsed in the crawl's own process); the crawl goes on.",
        why[:1].upper() + why[1:],
    )
    return UnavailableExecutor(why)


def start_executor(
    kind: str,
    size: int,
    *,
    start_method: str = "forkserver",
    nice: int = 0,
    sched_idle: bool = False,
    cpu_seconds: float | None = None,
    memory_bytes: int = 0,
    file_size_bytes: int = 0,
    factory: Callable[[], ProcessExecutor] | None = None,
) -> TaskExecutor:
    """The executor for ``kind`` (``pool`` or ``inline``). Blocking: call it off the event loop.

    When the process pool cannot start, every file task fails with ``pool_unavailable`` and the
    reason, and the log says so at CRITICAL level.
    """
    if kind == "inline":
        logger.warning("file tasks run INLINE on the crawl's event loop (LOOQTA_FILES_EXECUTOR=inline)")
        return InlineExecutor()
    executor: ProcessExecutor | None = None
    try:
        executor = (
            factory()
            if factory
            else ProcessExecutor(
                size,
                start_method=start_method,
                nice=nice,
                sched_idle=sched_idle,
                cpu_seconds=cpu_seconds,
                memory_bytes=memory_bytes,
                file_size_bytes=file_size_bytes,
            )
        )
        executor.start()
    except (PoolStartError, OSError, ValueError) as exc:
        if executor is not None:
            executor.shutdown()
        return unavailable_executor(f"the file worker pool could not start ({exc})")
    logger.info("file worker pool started: %d %s workers", executor.size, start_method)
    return executor
