"""Where worker functions run: a fixed-size pebble process pool, or in-process as a fallback.

Every executor returns ``concurrent.futures.Future`` objects, so the service awaits them the
same way. :class:`ProcessExecutor` is the real one:

* fixed size; to resize, :meth:`~ProcessExecutor.prepare` a pool of ``n`` (off the event loop)
  and :meth:`~ProcessExecutor.install` it; the old pool finishes what it runs, then exits
  (pebble has no in-place resize, and this keeps to its public API);
* a worker killed mid-task fails that task's future with ``ProcessExpired`` and pebble starts
  a replacement; a pool pebble itself declares broken is replaced the same way (repair);
* the per-task time limit is pebble's: the worker is killed and the future raises
  ``TimeoutError``.

:func:`start_executor` health-checks the pool (a ``ping`` per worker) and, when it cannot start,
falls back to :class:`ThreadExecutor` (one thread in the crawl's process) and says so loudly.
:class:`InlineExecutor` runs the work on the caller's thread: the benchmark's "inline" baseline.
"""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any, Protocol

from pebble import ProcessPool

from looqta.files import work

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
    ) -> None:
        self._context = multiprocessing.get_context(start_method)
        if start_method == "forkserver":
            # Workers fork from a server that imported the worker code once, not from the crawl.
            self._context.set_forkserver_preload(["looqta.files.work"])
        self._nice = nice
        self._sched_idle = sched_idle
        self._cpu_seconds = cpu_seconds
        self._size = size
        self._retiring: list[threading.Thread] = []
        self._pool: ProcessPool | None = None  # until start()

    def _new_pool(self, size: int) -> ProcessPool:
        return ProcessPool(
            max_workers=size,
            initializer=work.init_worker,
            initargs=(self._nice, self._sched_idle),
            context=self._context,
        )

    @property
    def size(self) -> int:
        return self._size

    def submit(self, fn: Callable[..., Any], args: tuple[Any, ...], timeout: float | None) -> Future[Any]:
        """Run ``fn(*args)`` in a worker, within ``cpu_seconds`` of CPU time (in the worker) and
        ``timeout`` seconds of wall-clock time (pebble stops the worker)."""
        if self._pool is None:
            raise RuntimeError("the file worker pool is not started")
        if self._cpu_seconds is not None:
            fn, args = work.within_cpu, (self._cpu_seconds, fn, *args)
        return self._pool.schedule(fn, args=args, timeout=timeout)

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


class ThreadExecutor(_InProcessExecutor):
    """The fallback: one thread in the crawl's process. No time limit, no crash isolation."""

    kind = "thread"

    def __init__(self) -> None:
        self._threads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="looqta-files-fallback")

    def submit(self, fn: Callable[..., Any], args: tuple[Any, ...], timeout: float | None) -> Future[Any]:
        return self._threads.submit(fn, *args)

    def shutdown(self) -> None:
        self._threads.shutdown(wait=True, cancel_futures=True)


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


def fallback_executor(why: str) -> ThreadExecutor:
    """The in-process executor, announced at CRITICAL level: the crawl goes on, less safely."""
    logger.critical(
        "%s. FALLING BACK to running file tasks IN-PROCESS in one thread: slower, no per-task time "
        "limit, and a crashing file takes the crawl down.",
        why[:1].upper() + why[1:],
    )
    return ThreadExecutor()


def start_executor(
    kind: str,
    size: int,
    *,
    start_method: str = "forkserver",
    nice: int = 0,
    sched_idle: bool = False,
    cpu_seconds: float | None = None,
    factory: Callable[[], ProcessExecutor] | None = None,
) -> TaskExecutor:
    """The executor for ``kind`` (``pool`` or ``inline``). Blocking: call it off the event loop.

    When the process pool cannot start, the work still gets done, in a thread of this process,
    and the log says so at CRITICAL level: that crawl has no time limits and no crash isolation.
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
                size, start_method=start_method, nice=nice, sched_idle=sched_idle, cpu_seconds=cpu_seconds
            )
        )
        executor.start()
    except (PoolStartError, OSError, ValueError) as exc:
        if executor is not None:
            executor.shutdown()
        return fallback_executor(f"the file worker pool could not start ({exc})")
    logger.info("file worker pool started: %d %s workers", executor.size, start_method)
    return executor
