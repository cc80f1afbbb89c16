"""The file service on a real process pool: crashes, time and memory limits, repair, resize, an
unavailable pool, lag.

The worker functions below are importable by the pool's processes (they are plain module-level
functions), so each test drives the pool exactly as the pipeline does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import resource
import signal
import sqlite3
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import pytest

from looqta.files.checks import PDF
from looqta.files.config import FilesConfig
from looqta.files.pool import PoolStartError, ProcessExecutor
from looqta.files.queue import DONE, FAILED, PENDING
from looqta.files.service import FileService
from looqta.sandbox import assets

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from pebble import ProcessPool

    from looqta.files.config import WorkOptions

WAIT_SECONDS = 30.0


# worker functions used by the tests (run in the pool's processes) -------------------------------


def report_pid(payload: dict[str, Any], options: WorkOptions) -> dict[str, Any]:
    return {"pid": os.getpid()}


def block_until_released(payload: dict[str, Any], options: WorkOptions) -> dict[str, Any]:
    """Note the worker's pid, then wait (bounded) until the test creates the release file."""
    with open(payload["pidfile"], "a") as handle:
        handle.write(f"{os.getpid()}\n")
    release = Path(payload["release"])
    deadline = time.monotonic() + WAIT_SECONDS
    while not release.exists():
        if time.monotonic() > deadline:
            raise TimeoutError("never released")
        time.sleep(0.01)
    return {"pid": os.getpid()}


def kill_own_worker(payload: dict[str, Any], options: WorkOptions) -> dict[str, Any]:
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")


def spin_forever(payload: dict[str, Any], options: WorkOptions) -> dict[str, Any]:
    while True:
        pass


def nap(payload: dict[str, Any], options: WorkOptions) -> dict[str, Any]:
    time.sleep(payload["seconds"])
    return {"pid": os.getpid()}


def report_scheduling(payload: dict[str, Any], options: WorkOptions) -> dict[str, Any]:
    return {"nice": os.getpriority(os.PRIO_PROCESS, 0), "idle": os.sched_getscheduler(0) == os.SCHED_IDLE}


def report_limits(payload: dict[str, Any], options: WorkOptions) -> dict[str, Any]:
    return {
        "memory": resource.getrlimit(resource.RLIMIT_AS)[0],
        "file_size": resource.getrlimit(resource.RLIMIT_FSIZE)[0],
    }


def hog_memory(payload: dict[str, Any], options: WorkOptions) -> dict[str, Any]:
    """What a hostile file does to its parser: ask for more memory than the worker may have."""
    held = bytearray(payload["bytes"])
    return {"held": len(held)}


def write_big_file(payload: dict[str, Any], options: WorkOptions) -> dict[str, Any]:
    with open(payload["path"], "wb") as handle:
        for _ in range(payload["mib"]):
            handle.write(b"\0" * 1024 * 1024)
    return {"written": payload["mib"]}


HANDLERS: dict[str, Callable[..., dict[str, Any]]] = {
    "report_pid": report_pid,
    "block": block_until_released,
    "kill_own_worker": kill_own_worker,
    "spin": spin_forever,
    "scheduling": report_scheduling,
    "nap": nap,
    "limits": report_limits,
    "hog": hog_memory,
    "write": write_big_file,
}
MIB = 1024 * 1024


def fail_to_start(nice: int) -> None:
    raise OSError("cannot set up this worker")


class UnstartableExecutor(ProcessExecutor):
    """Real processes whose initializer fails: every worker exits before running a task."""

    def _new_pool(self, size: int) -> ProcessPool:
        from pebble import ProcessPool

        return ProcessPool(max_workers=size, initializer=fail_to_start, initargs=(0,), context=self._context)


class OneShotExecutor(ProcessExecutor):
    """A pool that starts once; any later pool (a repair) cannot start."""

    def prepare(self, size: int, timeout: float = 30.0) -> ProcessPool:
        if getattr(self, "started_once", False):
            raise PoolStartError("RuntimeError: no more processes")
        self.started_once = True
        return super().prepare(size, timeout)


# helpers ----------------------------------------------------------------------------------------


def make_config(tmp_path: Path, **overrides: Any) -> FilesConfig:
    settings: dict[str, Any] = {
        "directory": tmp_path / "files",
        "max_workers": 2,
        "retry_backoff_seconds": 0.05,
        "task_timeout_seconds": 20.0,
        "worker_nice": 0,
    }
    return FilesConfig(**{**settings, **overrides})


@contextlib.asynccontextmanager
async def running(config: FilesConfig, **kwargs: Any) -> AsyncIterator[FileService]:
    service = FileService(config, handlers=HANDLERS, **kwargs)
    await service.start()
    try:
        yield service
    finally:
        await service.close()


async def until(predicate: Callable[[], bool], what: str, timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def worker_pids() -> set[int]:
    """Live pool workers: children of the forkserver this process started."""
    found: set[int] = set()
    for child in psutil.Process().children():
        with contextlib.suppress(psutil.Error):
            if "multiprocessing.forkserver" in " ".join(child.cmdline()):
                found |= {p.pid for p in child.children() if p.status() != psutil.STATUS_ZOMBIE}
    return found


def queue_counts(config: FilesConfig) -> dict[str, int]:
    """Task counts read the way any other process would: a separate SQLite connection."""
    with contextlib.closing(sqlite3.connect(config.queue_path)) as db:
        found = dict.fromkeys(("pending", "processing", "done", "failed"), 0)
        found.update(db.execute("SELECT status, COUNT(*) FROM tasks GROUP BY status").fetchall())
        return found


def pids_in(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


# tests ------------------------------------------------------------------------------------------


def test_tasks_run_in_worker_processes(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(make_config(tmp_path)) as service:
            task = await service.run("report_pid", {})
            assert task.status == DONE
            assert task.result is not None
            assert task.result["pid"] != os.getpid()
            assert task.result["pid"] in worker_pids()
            snapshot = await service.snapshot()
            assert (snapshot.executor, snapshot.workers_total, snapshot.done) == ("process", 2, 1)
            assert snapshot.latency_p50_seconds is not None

    asyncio.run(scenario())


@pytest.mark.parametrize("sched_idle", [False, True])
def test_workers_are_niced_and_optionally_sched_idle(tmp_path: Path, sched_idle: bool) -> None:
    # The niceness stays under SCHED_IDLE: the kernel counts a task's user time as niced CPU by
    # its nice value, and the throttle reads niced CPU apart (/proc/stat's nice column).
    config = make_config(tmp_path, worker_nice=10, worker_sched_idle=sched_idle)

    async def scenario() -> None:
        async with running(config) as service:
            task = await service.run("scheduling", {})
            assert task.status == DONE
            assert task.result == {"nice": 10, "idle": sched_idle}

    asyncio.run(scenario())


def test_a_worker_killed_mid_task_is_replaced_and_the_task_retried(tmp_path: Path) -> None:
    pidfile, release = tmp_path / "pids", tmp_path / "release"

    async def scenario() -> None:
        async with running(make_config(tmp_path)) as service:
            waiting = asyncio.ensure_future(
                service.run("block", {"pidfile": str(pidfile), "release": str(release)})
            )
            await until(lambda: len(pids_in(pidfile)) == 1, "the task to start")
            [first] = pids_in(pidfile)
            os.kill(first, signal.SIGKILL)
            await until(lambda: len(pids_in(pidfile)) == 2, "the retry to start on another worker")
            release.touch()
            task = await waiting
            assert (task.status, task.attempts) == (DONE, 2)
            assert task.result == {"pid": pids_in(pidfile)[1]}
            assert pids_in(pidfile)[1] != first
            assert (service.counters["worker_crashed"], service.counters["retried"]) == (1, 1)
            await until(lambda: len(worker_pids()) == 2, "the pool to be back to 2 workers")
            assert first not in worker_pids()
            assert (await service.run("report_pid", {})).status == DONE

    asyncio.run(scenario())


def test_a_task_that_keeps_killing_workers_ends_failed_with_its_reason(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(make_config(tmp_path, max_attempts=3)) as service:
            task = await service.run("kill_own_worker", {})
            assert (task.status, task.attempts) == (FAILED, 3)
            assert task.reason == "the worker killed by SIGKILL, on each of 3 attempts"
            assert service.counters["worker_crashed"] == 3
            assert service.counters["failed/worker_crashed"] == 1
            assert (await service.run("report_pid", {})).status == DONE  # the pool still serves

    asyncio.run(scenario())


def test_a_task_over_its_time_limit_is_stopped_and_fails(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(make_config(tmp_path, task_timeout_seconds=0.5)) as service:
            started = time.monotonic()
            task = await service.run("spin", {})
            assert time.monotonic() - started < 10
            assert (task.status, task.attempts) == (FAILED, 1)
            assert task.reason == "timeout: still running after 0.5s; worker stopped"
            assert service.counters["failed/timeout"] == 1
            assert (await service.run("report_pid", {})).status == DONE

    asyncio.run(scenario())


def test_a_task_over_its_cpu_time_fails_and_its_worker_serves_on(tmp_path: Path) -> None:
    # The worker's own CPU timer stops the task; the wall-clock limit (20 s) is not reached and
    # the worker is not stopped: the next task runs in the same process.
    async def scenario() -> None:
        config = make_config(tmp_path, max_workers=1, task_cpu_seconds=0.5)
        async with running(config) as service:
            before = await service.run("report_pid", {})
            started = time.monotonic()
            task = await service.run("spin", {})
            assert time.monotonic() - started < 10
            assert (task.status, task.attempts) == (FAILED, 1)
            assert task.reason == "timeout: used more than 0.5s of CPU"
            assert service.counters["failed/timeout"] == 1
            after = await service.run("report_pid", {})
            assert after.result == before.result

    asyncio.run(scenario())


def test_time_a_task_spends_off_the_cpu_is_not_held_against_it(tmp_path: Path) -> None:
    # 1 s asleep (as a worker waiting for a busy machine's CPU) under a 0.3 s CPU limit: done.
    async def scenario() -> None:
        async with running(make_config(tmp_path, task_cpu_seconds=0.3)) as service:
            task = await service.run("nap", {"seconds": 1.0})
            assert task.status == DONE

    asyncio.run(scenario())


def test_a_pool_broken_by_a_killed_idle_worker_is_repaired(tmp_path: Path) -> None:
    # pebble declares its whole pool broken when a worker dies with no task running.
    async def scenario() -> None:
        async with running(make_config(tmp_path)) as service:
            first = await service.run("report_pid", {})
            assert first.result is not None
            os.kill(first.result["pid"], signal.SIGKILL)
            executor = service.executor
            assert executor is not None
            await until(lambda: not executor.healthy(), "pebble to notice the dead worker")
            task = await service.run("report_pid", {})
            assert task.status == DONE
            assert service.counters["pool_repaired"] == 1
            assert executor.healthy()

    asyncio.run(scenario())


def test_workers_run_under_their_memory_and_file_size_limits(tmp_path: Path) -> None:
    config = make_config(tmp_path, worker_memory_bytes=512 * MIB, worker_file_size_bytes=128 * MIB)

    async def scenario() -> None:
        async with running(config) as service:
            task = await service.run("limits", {})
            assert task.result == {"memory": 512 * MIB, "file_size": 128 * MIB}

    asyncio.run(scenario())


def test_a_task_over_the_memory_limit_fails_with_its_reason_and_the_worker_serves_on(tmp_path: Path) -> None:
    config = make_config(tmp_path, max_workers=1, worker_memory_bytes=512 * MIB)

    async def scenario() -> None:
        async with running(config) as service:
            before = await service.run("report_pid", {})
            task = await service.run("hog", {"bytes": 1024 * MIB})
            assert (task.status, task.attempts) == (FAILED, 1)  # final: not retried
            assert task.reason == "memory_limit: needed more than 512 MiB of memory"
            assert service.counters["failed/memory_limit"] == 1
            assert service.counters["worker_crashed"] == 0
            after = await service.run("report_pid", {})
            assert after.result == before.result  # the same worker, still serving
            assert (await service.run("hog", {"bytes": 64 * MIB})).status == DONE  # under the limit

    asyncio.run(scenario())


def test_a_task_writing_past_the_file_size_limit_fails_with_its_reason(tmp_path: Path) -> None:
    config = make_config(tmp_path, max_workers=1, max_size_bytes=MIB, worker_file_size_bytes=2 * MIB)

    async def scenario() -> None:
        async with running(config) as service:
            task = await service.run("write", {"path": str(tmp_path / "big"), "mib": 3})
            assert (task.status, task.attempts) == (FAILED, 1)
            assert task.reason == "file_size_limit: wrote a file larger than 2 MiB"
            assert (tmp_path / "big").stat().st_size == 2 * MIB
            assert (await service.run("write", {"path": str(tmp_path / "ok"), "mib": 1})).status == DONE

    asyncio.run(scenario())


def test_a_pool_that_cannot_start_fails_file_tasks_with_the_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        factory = lambda: UnstartableExecutor(2)  # noqa: E731
        async with running(make_config(tmp_path), executor_factory=factory) as service:
            assert service.executor is not None
            assert service.executor.kind == "unavailable"
            assert service.counters["pool_unavailable"] == 1
            task = await service.run("report_pid", {})
            assert (task.status, task.result) == (FAILED, None)  # never run in this process
            assert task.reason is not None
            assert task.reason.startswith("pool_unavailable: the file worker pool could not start")
            [file_id] = await service.open_batch("noon:N1", [("http://h/N1.png", "image")], 20)
            waiting = await service.add_body(
                file_id, "http://h/N1.png", "image", assets.image_bytes("N1", "png"),
                declared_type="image/png", declared_name="N1.png", priority=20,
            )  # fmt: skip
            record = await waiting
            assert record["status"] == FAILED
            assert record["reason"].startswith("store: pool_unavailable: ")
            assert service.counters["failed/pool_unavailable"] == 2

    with caplog.at_level(logging.CRITICAL, logger="looqta.files.pool"):
        asyncio.run(scenario())
    [record] = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert "FAIL with pool_unavailable" in record.getMessage()


def test_a_broken_pool_that_cannot_be_replaced_fails_file_tasks_with_the_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with running(make_config(tmp_path), executor_factory=lambda: OneShotExecutor(2)) as service:
            first = await service.run("report_pid", {})
            assert first.result is not None
            os.kill(first.result["pid"], signal.SIGKILL)  # idle: pebble declares the pool broken
            broken = service.executor
            assert broken is not None
            await until(lambda: not broken.healthy(), "pebble to notice the dead worker")
            task = await service.run("report_pid", {})
            assert (task.status, task.result) == (FAILED, None)
            assert task.reason is not None
            assert task.reason.startswith("pool_unavailable: the broken pool could not be replaced")
            assert service.executor is not None
            assert (service.executor.kind, service.counters["pool_unavailable"]) == ("unavailable", 1)

    with caplog.at_level(logging.CRITICAL, logger="looqta.files.pool"):
        asyncio.run(scenario())
    [record] = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert record.getMessage().startswith("The broken pool could not be replaced")


def test_resize_at_run_time_within_the_bounds(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(make_config(tmp_path, max_workers=3, min_workers=1)) as service:
            await until(lambda: len(worker_pids()) == 3, "3 workers")
            assert await service.resize(1) == 1
            await until(lambda: len(worker_pids()) == 1, "the pool to shrink to 1 worker")
            assert (await service.run("report_pid", {})).status == DONE
            assert await service.resize(10) == 3  # bounded by max_workers
            await until(lambda: len(worker_pids()) == 3, "the pool to grow to 3 workers")
            assert await service.resize(0) == 1  # bounded by min_workers
            assert (await service.snapshot()).workers_total == 1

    asyncio.run(scenario())


def test_limit_tasks_holds_new_tasks_and_lets_them_through_one_at_a_time(tmp_path: Path) -> None:
    pidfile, release = tmp_path / "pids", tmp_path / "release"
    payload = {"pidfile": str(pidfile), "release": str(release)}

    async def scenario() -> None:
        async with running(make_config(tmp_path, max_workers=2)) as service:
            with pytest.raises(ValueError, match=">= 0"):
                service.limit_tasks(-1)
            service.limit_tasks(0)
            tasks = [asyncio.ensure_future(service.run("block", payload)) for _ in range(2)]
            await until(lambda: queue_counts(service.config)["pending"] == 2, "2 tasks queued")
            await asyncio.sleep(0.5)
            assert pids_in(pidfile) == []  # held: two idle workers, no task started
            assert queue_counts(service.config)["processing"] == 0
            service.limit_tasks(1)
            await until(lambda: len(pids_in(pidfile)) == 1, "one task to start")
            await asyncio.sleep(0.5)
            assert len(pids_in(pidfile)) == 1  # the second waits for the first
            assert queue_counts(service.config) == {"pending": 1, "processing": 1, "done": 0, "failed": 0}
            service.limit_tasks(None)  # one per worker again
            await until(lambda: len(pids_in(pidfile)) == 2, "the second task to start")
            release.touch()
            assert [task.status for task in await asyncio.gather(*tasks)] == [DONE, DONE]

    asyncio.run(scenario())


def test_drain_lifts_the_task_limit_for_good(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running(make_config(tmp_path, max_workers=2)) as service:
            service.limit_tasks(0)
            task = asyncio.ensure_future(service.run("report_pid", {}))
            await until(lambda: queue_counts(service.config)["pending"] == 1, "the task queued")
            assert await service.drain(WAIT_SECONDS)  # the crawl is over: held work runs
            service.limit_tasks(0)  # a throttle still ticking cannot hold it again
            assert (await service.run("report_pid", {})).status == DONE
            assert (await task).status == DONE

    asyncio.run(scenario())


def test_resize_before_start_sets_the_starting_size(tmp_path: Path) -> None:
    async def scenario() -> None:
        service = FileService(make_config(tmp_path, max_workers=3), handlers=HANDLERS)
        assert await service.resize(1) == 1
        await service.start()
        try:
            assert service.executor is not None
            assert service.executor.size == 1
        finally:
            await service.close()

    asyncio.run(scenario())


def test_bodies_are_spooled_not_kept_in_the_queue(tmp_path: Path) -> None:
    body = assets.image_bytes("N9", "png") + b"\0" * 2_000_000  # a PNG with trailing padding

    async def scenario() -> None:
        config = make_config(tmp_path)
        async with running(config) as service:
            [file_id] = await service.open_batch("noon:N9", [("http://h/N9.png", "image")], 20)
            waiting = await service.add_body(
                file_id,
                "http://h/N9.png",
                "image",
                body,
                declared_type="image/png",
                declared_name="N9.png",
                priority=20,
            )
            spooled = list(config.spool_dir.iterdir())
            assert [path.read_bytes() == body for path in spooled] == [True]  # on disk, not in the DB
            record = await waiting
            assert record["status"] == DONE
            assert record["size"] == len(body)
            store_task = next(t for t in await service.tasks() if t.type == "store")
            assert set(store_task.payload) == {"url", "kind", "declared_type", "declared_name", "spool"}
            assert Path(store_task.payload["spool"]).parent == config.spool_dir
            assert list(config.spool_dir.iterdir()) == []  # removed once the store task ended
            database = sum(p.stat().st_size for p in config.directory.glob("queue.sqlite3*"))
            assert database < len(body) / 4
            await until(lambda: queue_counts(config)[PENDING] == 0, "the queue to empty")

    asyncio.run(scenario())


def test_tasks_left_by_a_stopped_service_resume_in_the_next_one(tmp_path: Path) -> None:
    pidfile, release = tmp_path / "pids", tmp_path / "release"
    config = make_config(tmp_path, max_workers=1)

    async def first_run() -> list[int]:
        async with running(config) as service:
            payload = {"pidfile": str(pidfile), "release": str(release)}
            waiting = [asyncio.ensure_future(service.run("block", payload)) for _ in range(3)]
            await until(lambda: len(pids_in(pidfile)) == 1, "one task to start")
            counts = queue_counts(config)
            assert (counts["processing"], counts["pending"]) == (1, 2)
            ids = [t.id for t in await service.tasks()]
        # closed without draining: the running task stays "processing" on disk, none finished
        assert not any(w.done() and not w.cancelled() for w in waiting)
        return ids

    async def second_run(ids: list[int]) -> None:
        release.touch()
        async with running(config) as service:
            assert service.counters["resumed"] == 3
            assert await service.drain(WAIT_SECONDS)
            assert [(t.id, t.status) for t in await service.tasks()] == [(i, DONE) for i in ids]

    ids = asyncio.run(first_run())
    asyncio.run(second_run(ids))


async def loop_ticks_while(work: Callable[[], Any], interval: float = 0.01) -> list[tuple[float, float]]:
    """For each tick of an ``interval`` looping call while ``work()`` is awaited: how late it
    came (wall clock) and how much CPU the event loop's thread used since the previous tick.

    The second number is what this test judges: it counts work done on the loop, and unlike
    lateness it does not grow when other processes load the machine.
    """
    loop = asyncio.get_running_loop()
    ticks: list[tuple[float, float]] = []
    done = asyncio.Event()

    async def ticker() -> None:
        expected = loop.time() + interval
        cpu = time.thread_time()
        while not done.is_set():
            await asyncio.sleep(max(0.0, expected - loop.time()))
            now, cpu_now = loop.time(), time.thread_time()
            ticks.append((now - expected, cpu_now - cpu))
            expected, cpu = now + interval, cpu_now

    ticking = asyncio.ensure_future(ticker())
    await work()
    done.set()
    await ticking
    return ticks


@pytest.mark.parametrize("executor", ["pool", "inline"])
def test_pdf_text_in_the_pool_does_not_block_the_event_loop(tmp_path: Path, executor: str) -> None:
    body = assets.pdf_bytes("N10", "Heavy datasheet", (("Brand", "Apple"),), 250)

    async def scenario() -> list[tuple[float, float]]:
        async with running(make_config(tmp_path, executor=executor)) as service:
            urls = [(f"http://h/{n}.pdf", "document") for n in range(3)]
            ids = await service.open_batch("noon:N10", urls, 20)

            async def work() -> None:
                futures = [
                    await service.add_body(
                        i, url, "document", body, declared_type=PDF, declared_name="x.pdf", priority=20
                    )
                    for i, (url, _) in zip(ids, urls, strict=True)
                ]
                records = await asyncio.gather(*futures)
                assert {r["status"] for r in records} == {DONE}
                assert len({r["text_length"] for r in records}) == 1

            return await loop_ticks_while(work)

    ticks = asyncio.run(scenario())
    busiest = max(cpu for _, cpu in ticks)
    late = statistics.quantiles([lag for lag, _ in ticks], n=100)[98]
    summary = (
        f"{executor}: busiest tick {busiest * 1000:.0f} ms CPU on the loop, lag p99 {late * 1000:.0f} ms"
    )
    if executor == "inline":
        assert busiest > 0.1, f"the measurement must see inline PDF parsing on the loop ({summary})"
    else:
        assert busiest < 0.03, summary
