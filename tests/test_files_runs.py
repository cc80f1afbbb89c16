"""Run ownership of a file queue: two crawls of one spider share its directory.

The liveness decision on its own; the queue with two runs in one process (injected process
probe and clock); and real processes: two services on one queue at once, a killed run whose work
a new run takes over while another run is still alive, a queue file from before runs existed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from looqta.files.ownership import INTERRUPTED_REASON, STORE_UNAVAILABLE
from looqta.files.queue import DONE, FAILED, PENDING, PROCESSING, FileQueue, LostTask, NewTask
from looqta.files.runs import RunIdentity, RunRow, is_alive, process_started_at
from looqta.files.tasks import TASKS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from looqta.files.config import WorkOptions

TESTS_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = TESTS_DIR.parent
WAIT_SECONDS = 60.0
HOST = socket.gethostname()
LEASE = 300.0


# the decision -----------------------------------------------------------------------------------


def run_row(**overrides: Any) -> RunRow:
    fields: dict[str, Any] = {
        "id": "r1",
        "pid": 4242,
        "host": HOST,
        "process_started_at": 100.0,
        "started_at": 1_000.0,
        "heartbeat_at": 1_000.0,
        "ended_at": None,
        "adopted_by": None,
    }
    return RunRow(**{**fields, **overrides})


@pytest.mark.parametrize(
    ("overrides", "now", "probe", "alive"),
    [
        ({}, 1_010.0, {4242: 100.0}, True),
        ({}, 1_010.0, {}, False),  # the process is gone
        ({}, 1_010.0, {4242: 900.0}, False),  # the pid now belongs to a later process
        ({"ended_at": 1_005.0}, 1_010.0, {4242: 100.0}, False),  # it closed
        ({"adopted_by": "r2"}, 1_010.0, {4242: 100.0}, False),  # its work was taken over already
        ({}, 1_000.0 + LEASE + 1, {4242: 100.0}, False),  # alive but silent past its lease: hung
        ({"host": "elsewhere"}, 1_010.0, {}, True),  # another machine: the lease decides
        ({"host": "elsewhere"}, 1_000.0 + LEASE + 1, {}, False),
        ({"process_started_at": None}, 1_010.0, {4242: 5.0}, True),
    ],
)
def test_a_run_is_alive_while_its_process_runs_and_its_lease_holds(
    overrides: dict[str, Any], now: float, probe: dict[int, float], alive: bool
) -> None:
    run = run_row(**overrides)
    assert is_alive(run, host=HOST, now=now, lease_seconds=LEASE, probe=probe.get) is alive


def test_the_probe_tells_this_process_from_a_dead_one() -> None:
    me = process_started_at(os.getpid())
    assert me is not None
    assert abs(me - process_started_at(os.getpid())) < 1e-3  # type: ignore[operator]
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert process_started_at(child.pid) is None


# the queue, two runs in this process --------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class Processes:
    """A process probe the test controls: pid -> start time, absent when "dead"."""

    def __init__(self) -> None:
        self.started: dict[int, float] = {}

    def __call__(self, pid: int) -> float | None:
        return self.started.get(pid)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def processes() -> Processes:
    return Processes()


@pytest.fixture
def open_run(tmp_path: Path, clock: Clock, processes: Processes) -> Iterator[Callable[..., FileQueue]]:
    """``open_run(name, pid, host=HOST)``: a run of the test's queue file with its own identity."""
    opened: list[FileQueue] = []

    def make(name: str, pid: int, host: str = HOST) -> FileQueue:
        processes.started[pid] = float(pid)
        identity = RunIdentity(name * 8, pid, host, float(pid))
        queue = FileQueue(tmp_path / "queue.sqlite3", clock, probe=processes, identity=identity).open()
        opened.append(queue)
        return queue

    yield make
    for queue in opened:
        with contextlib.suppress(Exception):
            queue.close()


def one_file_batch(queue: FileQueue, key: str) -> int:
    [file_id] = queue.add_batch(key, [(f"http://h/{key}.png", "image")], priority=10)
    return file_id


def test_a_second_run_leaves_the_first_runs_work_alone_while_it_lives(
    open_run: Callable[..., FileQueue],
) -> None:
    first = open_run("a", 101)
    running_file = one_file_batch(first, "noon:A1")
    downloading_file = one_file_batch(first, "noon:A2")
    running = first.add_task(NewTask("store", {"spool": "/s/a1"}, 10, file_id=running_file))
    waiting = first.add_task(NewTask("store", {"spool": "/s/a3"}, 10))
    assert [t.id for t in first.claim(1)] == [running]

    second = open_run("b", 202)
    recovery = second.recover(max_attempts=3)
    assert (recovery.adopted_runs, recovery.adopted_tasks, recovery.requeued) == (0, 0, 0)
    assert recovery.interrupted_files == 0
    assert recovery.live_runs == {first.run_id}
    assert recovery.spool_paths == {"/s/a1", "/s/a3"}  # the first run's spool files are kept
    assert second.claim(5) == []  # nothing of the first run's is the second's to run
    own = second.add_task(NewTask("store", {"spool": "/s/b1"}, 10))
    assert [t.id for t in second.claim(5)] == [own]
    assert second.counts() == {PENDING: 0, PROCESSING: 1, DONE: 0, FAILED: 0}
    assert first.counts() == {PENDING: 1, PROCESSING: 1, DONE: 0, FAILED: 0}
    assert first.get_file(downloading_file).status == "downloading"

    first.complete(running, {"path": "x"})  # the item's last file: the item waits in the first run
    assert [t.id for t in first.claim(5)] == [waiting]
    assert second.claim(5) == []
    assert {t.id: (t.status, t.type) for t in second.tasks()} == {
        running: (DONE, "store"),
        waiting: (PROCESSING, "store"),
        own: (PROCESSING, "store"),
    }


def test_a_run_whose_process_died_has_its_work_taken_over(
    open_run: Callable[..., FileQueue], processes: Processes
) -> None:
    first = open_run("a", 101)
    running_file = one_file_batch(first, "noon:A1")
    downloading_file = one_file_batch(first, "noon:A2")
    running = first.add_task(NewTask("store", {"spool": "/s/a1"}, 10, file_id=running_file))
    waiting = first.add_task(NewTask("store", {"spool": "/s/a3"}, 10))
    first.claim(1)
    second = open_run("b", 202)
    assert second.ownership.adopt(max_attempts=3).adopted_runs == 0

    del processes.started[101]  # the first crawl is killed
    recovery = second.ownership.adopt(max_attempts=3)
    assert (recovery.adopted_runs, recovery.adopted_tasks, recovery.requeued) == (1, 2, 1)
    assert recovery.interrupted_files == 1
    lost = second.get_file(downloading_file)
    assert (lost.status, lost.reason) == (FAILED, INTERRUPTED_REASON)
    [write] = [t for t in second.tasks(PENDING) if t.type == "store_records"]  # the interrupted item's
    assert write.payload["item_key"] == "noon:A2"
    assert {t.id for t in second.claim(5)} == {running, waiting, write.id}
    assert second.get(running).attempts == 2  # the attempt the dead run used stays counted
    assert second.ownership.adopt(max_attempts=3).adopted_runs == 0  # once
    [row] = [r for r in second.ownership.runs() if r.id == first.run_id]
    assert row.adopted_by == second.run_id


def test_a_run_presumed_dead_loses_its_claims_and_rejoins(
    open_run: Callable[..., FileQueue], clock: Clock
) -> None:
    first = open_run("a", 101, host="elsewhere")  # on another machine: only its lease tells
    task_id = first.add_task(NewTask("store", {"spool": "/s/a1"}, 10))
    first.claim(1)
    downloading = one_file_batch(first, "noon:A9")
    second = open_run("b", 202)
    clock.now += LEASE / 2
    assert first.ownership.heartbeat()
    assert second.ownership.adopt(max_attempts=3).adopted_runs == 0
    clock.now += LEASE + 1  # the first run hangs: no heartbeat
    assert second.ownership.adopt(max_attempts=3).adopted_tasks == 1
    [claimed] = [t for t in second.claim(5) if t.id == task_id]
    second.complete(claimed.id, {"by": "second"})

    with pytest.raises(LostTask, match="taken over"):
        first.complete(task_id, {"by": "first"})
    with pytest.raises(LostTask):
        first.retry(task_id, "again", clock.now)
    assert second.get(task_id).result == {"by": "second"}  # the other run's result stands
    tasks_before = len(second.tasks())
    with pytest.raises(LostTask, match="no longer waits"):  # its download was given up
        first.add_task(NewTask("store", {"spool": "/s/a9"}, 10, file_id=downloading))
    assert len(second.tasks()) == tasks_before
    assert second.get_file(downloading).reason == INTERRUPTED_REASON
    assert not first.ownership.heartbeat()
    old_id = first.run_id
    assert first.ownership.rejoin() != old_id
    assert first.ownership.heartbeat()
    new_task = first.add_task(NewTask("store", {"spool": "/s/a2"}, 10))
    assert [t.id for t in first.claim(5)] == [new_task]


def test_a_store_write_that_never_reached_the_store_is_retried_by_the_next_run(
    open_run: Callable[..., FileQueue],
) -> None:
    first = open_run("a", 101)
    unreachable = first.add_task(NewTask("store_records", {"item_key": "noon:A1", "files": []}, 5))
    broken = first.add_task(NewTask("store_records", {"item_key": "noon:A2", "files": []}, 5))
    first.claim(2)
    first.fail(unreachable, f"{STORE_UNAVAILABLE}: connection refused, on each of 3 attempts")
    first.fail(broken, "error: KeyError: 'files', on each of 3 attempts")
    first.close()

    second = open_run("b", 202)
    assert second.recover(max_attempts=3).retried_writes == 1
    [again] = second.claim(5)
    assert (again.id, again.attempts) == (unreachable, 1)
    assert second.get(broken).status == FAILED
    assert second.ownership.adopt(max_attempts=3).retried_writes == 0  # only when a run starts


_OLD_SCHEMA = """
CREATE TABLE batches (id INTEGER PRIMARY KEY, item_key TEXT NOT NULL, file_count INTEGER NOT NULL,
    priority INTEGER NOT NULL, created_at REAL NOT NULL);
CREATE TABLE files (id INTEGER PRIMARY KEY, batch_id INTEGER NOT NULL REFERENCES batches(id),
    url TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL, record TEXT NOT NULL, reason TEXT,
    created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE tasks (id INTEGER PRIMARY KEY, type TEXT NOT NULL, status TEXT NOT NULL,
    priority INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, not_before REAL NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL, started_at REAL, finished_at REAL,
    file_id INTEGER REFERENCES files(id), batch_id INTEGER REFERENCES batches(id),
    payload TEXT NOT NULL, result TEXT, reason TEXT);
INSERT INTO batches VALUES (1, 'noon:N1', 2, 10, 0);
INSERT INTO files VALUES (1, 1, 'u1', 'document', 'processing', '{"url": "u1"}', NULL, 0, 0);
INSERT INTO files VALUES (2, 1, 'u2', 'image', 'downloading', '{"url": "u2"}', NULL, 0, 0);
INSERT INTO tasks VALUES (1, 'store', 'processing', 10, 1, 0, 0, 0, 0, NULL, 1, NULL,
    '{"spool": "/s/1"}', NULL, NULL);
INSERT INTO tasks VALUES (2, 'db_update', 'failed', 5, 3, 0, 0, 0, 0, 0, NULL, 1,
    '{"item_key": "noon:N0", "files": []}', NULL, 'db_unavailable: refused, on each of 3 attempts');
"""


def test_a_queue_file_from_before_runs_is_migrated_and_its_work_taken_over(
    tmp_path: Path, clock: Clock
) -> None:
    path = tmp_path / "queue.sqlite3"
    with contextlib.closing(sqlite3.connect(path)) as old:
        old.executescript(_OLD_SCHEMA)
    queue = FileQueue(path, clock).open()
    try:
        recovery = queue.recover(max_attempts=3)
        assert (recovery.adopted_tasks, recovery.requeued, recovery.interrupted_files) == (1, 1, 1)
        assert recovery.retried_writes == 1  # a DB update of the old name and reason, renamed
        assert [(t.id, t.type, t.attempts) for t in queue.claim(5)] == [
            (1, "store", 2),
            (2, "store_records", 1),
        ]
        [batch_id] = queue.add_batch("noon:N2", [("u3", "image")], 10, item={"title": "t"})
        assert batch_id == 3
    finally:
        queue.close()
    again = FileQueue(path, clock).open()  # opening a migrated file again changes nothing
    try:
        assert again.recover(max_attempts=3).adopted_tasks == 2  # the closed run's claimed tasks
    finally:
        again.close()


_DYING_RUN = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from looqta.files.queue import FileQueue, NewTask

    queue = FileQueue(Path(sys.argv[1])).open()
    queue.add_task(NewTask("store", {"spool": "/s/x"}, 10))
    queue.claim(1)
    print(queue.run_id, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # no close(): the run row says it is still running
    """
)


def test_a_live_run_takes_over_the_work_of_a_killed_process_at_its_next_heartbeat(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite3"
    live = FileQueue(path).open()
    try:
        done = subprocess.run(
            [sys.executable, "-c", _DYING_RUN, str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        )
        assert done.returncode == -signal.SIGKILL, done.stderr
        dead_run = done.stdout.strip()
        [row] = [r for r in live.ownership.runs() if r.id == dead_run]
        assert row.ended_at is None  # only its pid tells it is gone
        recovery = live.ownership.adopt(max_attempts=3)
        assert (recovery.adopted_runs, recovery.adopted_tasks, recovery.requeued) == (1, 1, 1)
        [task] = live.claim(5)
        assert (task.payload, task.attempts) == ({"spool": "/s/x"}, 2)
    finally:
        live.close()


# real processes: services sharing one queue -----------------------------------------------------


class Logged:
    """A worker function that waits for ``LOOQTA_TEST_RELEASE`` (when set) before it runs, then
    appends what it did to ``LOOQTA_TEST_TASK_LOG``: one JSON line per task that completed."""

    def __init__(self, task_type: str) -> None:
        self.task_type = task_type

    def __call__(self, payload: dict[str, Any], options: WorkOptions) -> dict[str, Any]:
        release = os.environ.get("LOOQTA_TEST_RELEASE")
        deadline = time.monotonic() + WAIT_SECONDS
        while release and not os.path.exists(release):
            if time.monotonic() > deadline:
                raise TimeoutError("never released")
            time.sleep(0.01)
        result = TASKS[self.task_type].function(payload, options)
        line = {
            "type": self.task_type,
            "key": payload.get("url") or payload.get("item_key"),
            "label": os.environ["LOOQTA_TEST_LABEL"],
        }
        with open(os.environ["LOOQTA_TEST_TASK_LOG"], "a") as log:
            log.write(json.dumps(line) + "\n")
        return result


HANDLERS = {task_type: Logged(task_type) for task_type in TASKS}

_SERVICE_RUN = textwrap.dedent(
    """
    import asyncio, json, sys
    from pathlib import Path

    from looqta.files.config import FilesConfig
    from looqta.files.service import FileService
    from looqta.sandbox import assets
    from test_files_runs import HANDLERS

    async def main(directory, label, count, lease):
        config = FilesConfig(
            directory=Path(directory), max_workers=1, worker_nice=0, retry_backoff_seconds=0.05,
            run_lease_seconds=lease, drain_timeout_seconds=60.0,
        )
        service = FileService(config, handlers=HANDLERS)
        await service.start()
        print(json.dumps({"run_id": service.queue.run_id}), flush=True)
        waiting, file_ids = [], []
        for n in range(count):
            url = f"http://h/{label}/{n}.png"
            [file_id] = await service.open_batch(f"sandbox:{label}{n}", [(url, "image")], 10)
            file_ids.append(file_id)
            waiting.append(await service.add_body(
                file_id, url, "image", assets.image_bytes(f"{label}{n}", "png"),
                declared_type="image/png", declared_name=f"{n}.png", priority=10,
            ))
        records = await asyncio.gather(*waiting)
        for file_id in file_ids:  # as the pipeline does: the items took their records
            await service.answered(file_id)
        drained = await service.drain(config.drain_timeout_seconds)
        counters = dict(service.counters)
        await service.close()
        print(json.dumps({"records": records, "drained": drained, "counters": counters}), flush=True)

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
    """
)


class ServiceProcess:
    """``_SERVICE_RUN`` in its own process group: a crawl's file service with ``count`` items."""

    def __init__(self, tmp_path: Path, label: str, count: int, *, hold: bool, lease: float) -> None:
        self.label = label
        self.release = tmp_path / f"release-{label}"
        self.output = tmp_path / f"out-{label}"
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), str(TESTS_DIR)]),
            "LOOQTA_TEST_LABEL": label,
            "LOOQTA_TEST_TASK_LOG": str(tmp_path / "tasks.log"),
        }
        if hold:
            env["LOOQTA_TEST_RELEASE"] = str(self.release)
        command = [sys.executable, "-c", _SERVICE_RUN, str(tmp_path / "files"), label, str(count), str(lease)]
        with self.output.open("wb") as out:
            self.process = subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def lines(self) -> list[dict[str, Any]]:
        found = []
        for line in self.output.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                found.append(json.loads(line))
        return found

    @property
    def run_id(self) -> str:
        return wait_for(lambda: next((line["run_id"] for line in self.lines() if "run_id" in line), None))

    def result(self) -> dict[str, Any]:
        self.process.wait(WAIT_SECONDS)
        assert self.process.returncode == 0, self.output.read_text()[-3000:]
        [final] = [line for line in self.lines() if "records" in line]
        return final

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # the service, its forkserver, its worker
        self.process.wait(WAIT_SECONDS)


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    started: list[ServiceProcess] = []

    def start(label: str, count: int, *, hold: bool = False, lease: float = LEASE) -> ServiceProcess:
        started.append(ServiceProcess(tmp_path, label, count, hold=hold, lease=lease))
        return started[-1]

    yield start
    for service in started:
        service.kill()


def wait_for(predicate: Callable[[], Any], what: str = "the condition") -> Any:
    deadline = time.monotonic() + WAIT_SECONDS
    while not (found := predicate()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return found


def tasks_by_run(tmp_path: Path) -> dict[str, Counter[str]]:
    """``{run id: Counter(status)}`` of the queue's tasks, read by another connection."""
    path = tmp_path / "files" / "queue.sqlite3"
    found: dict[str, Counter[str]] = {}
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)) as db:
        for run_id, status, count in db.execute("SELECT run_id, status, COUNT(*) FROM tasks GROUP BY 1, 2"):
            found.setdefault(run_id, Counter())[status] = count
    return found


def completions(tmp_path: Path) -> Counter[tuple[str, str, str]]:
    """``Counter((type, key, label))`` of the tasks that ran to the end, in any process."""
    log = tmp_path / "tasks.log"
    lines = log.read_text().splitlines() if log.exists() else []
    return Counter((entry["type"], entry["key"], entry["label"]) for entry in map(json.loads, lines))


def expected_completions(label: str, count: int, by: str) -> Counter[tuple[str, str, str]]:
    """Each item's file tasks; and its store write when another run (``by``) finished its files:
    the item itself was gone with its run."""
    expected: Counter[tuple[str, str, str]] = Counter()
    for n in range(count):
        for task_type in ("store", "thumbnail", "upload"):
            expected[(task_type, f"http://h/{label}/{n}.png", by)] += 1
        if by != label:
            expected[("store_records", f"sandbox:{label}{n}", by)] += 1
    return expected


def test_two_runs_of_one_spider_at_once_each_do_their_own_work_once(
    tmp_path: Path, services: Callable[..., ServiceProcess]
) -> None:
    first = services("a", 3, hold=True, lease=2.0)  # heartbeats every 0.5 s: a live run's lease holds
    first_run = first.run_id
    held = Counter({PROCESSING: 1, PENDING: 2})
    wait_for(lambda: tasks_by_run(tmp_path).get(first_run) == held, "the first run's tasks to be queued")

    second = services("b", 3, lease=2.0)  # starts while the first run's task is running
    second_result = second.result()
    assert [record["status"] for record in second_result["records"]] == [DONE] * 3
    assert second_result["drained"]
    assert second_result["counters"]["resumed"] == 0
    during = tasks_by_run(tmp_path)
    assert during[first_run] == held  # untouched by the second run
    assert during[second.run_id] == Counter({DONE: 9})  # 3 tasks a file; the items take the records

    first.release.touch()
    first_result = first.result()
    assert [record["status"] for record in first_result["records"]] == [DONE] * 3
    assert first_result["drained"]
    assert tasks_by_run(tmp_path) == {first_run: Counter({DONE: 9}), second.run_id: Counter({DONE: 9})}
    assert completions(tmp_path) == expected_completions("a", 3, "a") + expected_completions("b", 3, "b")


def start_held(
    services: Callable[..., ServiceProcess], tmp_path: Path, label: str, lease: float
) -> ServiceProcess:
    """A run with two items whose first task is running (held) and second waiting."""
    service = services(label, 2, hold=True, lease=lease)
    run_id = service.run_id
    held = Counter({PROCESSING: 1, PENDING: 1})
    wait_for(lambda: tasks_by_run(tmp_path).get(run_id) == held, f"run {label}'s tasks to be queued")
    return service


def test_a_killed_runs_work_is_taken_over_by_the_next_run_while_another_run_lives(
    tmp_path: Path, services: Callable[..., ServiceProcess]
) -> None:
    doomed = start_held(services, tmp_path, "a", LEASE)
    living = start_held(services, tmp_path, "b", LEASE)  # its heartbeat comes too late to take over
    doomed.kill()
    spooled = {path.name.split("-", 1)[0] for path in (tmp_path / "files" / "spool").iterdir()}
    assert spooled == {doomed.run_id, living.run_id}

    rescuer = services("c", 0)  # a new run: no items of its own
    rescued = rescuer.result()
    assert rescued["drained"]
    assert rescued["counters"]["resumed"] == 2  # the killed run's running (held) task and its waiting one
    by_run = tasks_by_run(tmp_path)
    assert by_run[rescuer.run_id] == Counter({DONE: 8})  # both items of the killed run, store writes included
    assert doomed.run_id not in by_run
    assert by_run[living.run_id] == Counter({PROCESSING: 1, PENDING: 1})  # still the living run's
    spooled = {path.name.split("-", 1)[0] for path in (tmp_path / "files" / "spool").iterdir()}
    assert spooled == {living.run_id}

    living.release.touch()
    lived = living.result()
    assert [record["status"] for record in lived["records"]] == [DONE] * 2
    assert tasks_by_run(tmp_path)[living.run_id] == Counter({DONE: 6})
    assert completions(tmp_path) == expected_completions("a", 2, "c") + expected_completions("b", 2, "b")


def test_a_live_run_takes_over_a_killed_runs_work_at_its_next_heartbeat(
    tmp_path: Path, services: Callable[..., ServiceProcess]
) -> None:
    doomed = start_held(services, tmp_path, "a", LEASE)
    living = start_held(services, tmp_path, "b", 2.0)  # heartbeats every 0.5 s
    doomed.kill()
    wait_for(lambda: doomed.run_id not in tasks_by_run(tmp_path), "the living run to take the work over")
    assert tasks_by_run(tmp_path)[living.run_id] == Counter({PROCESSING: 1, PENDING: 3})

    living.release.touch()
    lived = living.result()
    assert [record["status"] for record in lived["records"]] == [DONE] * 2
    assert lived["drained"]
    assert lived["counters"]["adopted"] == 2
    assert tasks_by_run(tmp_path) == {living.run_id: Counter({DONE: 14})}
    assert completions(tmp_path) == expected_completions("a", 2, "b") + expected_completions("b", 2, "b")
