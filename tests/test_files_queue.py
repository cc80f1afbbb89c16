"""The durable file queue: ordering, attempts, backoff, chained results, recovery after a kill."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

from looqta.files.ownership import EXHAUSTED_REASON, INTERRUPTED_REASON
from looqta.files.queue import DONE, FAILED, PENDING, PROCESSING, FileQueue, NewTask

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queue(tmp_path: Path, clock: Clock) -> Iterator[FileQueue]:
    opened = FileQueue(tmp_path / "queue.sqlite3", clock).open()
    yield opened
    opened.close()


def test_the_database_is_in_wal_mode(queue: FileQueue) -> None:
    with sqlite3.connect(queue.path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_claim_takes_the_highest_priority_first_and_counts_the_attempt(queue: FileQueue) -> None:
    low = queue.add_task(NewTask("store", {"n": 1}, priority=0))
    high = queue.add_task(NewTask("store", {"n": 2}, priority=20))
    mid = queue.add_task(NewTask("store", {"n": 3}, priority=10))
    claimed = queue.claim(2)
    assert [task.id for task in claimed] == [high, mid]
    assert {task.status for task in claimed} == {PROCESSING}
    assert [task.attempts for task in claimed] == [1, 1]
    assert [task.id for task in queue.claim(5)] == [low]
    assert queue.claim(5) == []
    assert queue.counts() == {PENDING: 0, PROCESSING: 3, DONE: 0, FAILED: 0}


def test_a_retried_task_waits_for_its_backoff(queue: FileQueue, clock: Clock) -> None:
    task_id = queue.add_task(NewTask("store", {}, priority=0))
    assert queue.claim(1)[0].id == task_id
    queue.retry(task_id, "the worker killed by SIGKILL (attempt 1)", not_before=clock.now + 4)
    assert queue.next_due() == clock.now + 4
    assert queue.claim(1) == []
    clock.now += 4
    again = queue.claim(1)
    assert [(t.id, t.attempts, t.reason) for t in again] == [
        (task_id, 2, "the worker killed by SIGKILL (attempt 1)")
    ]


def test_a_task_leaves_the_queue_with_its_result_and_its_follow_up_in_one_step(queue: FileQueue) -> None:
    [file_id] = queue.add_batch("noon:N1", [("http://h/a.png", "image")], priority=20)
    store_id = queue.add_task(NewTask("store", {"spool": "/s/1"}, 20, file_id=file_id))
    queue.claim(1)
    record = {"url": "http://h/a.png", "path": "ab/x.png", "mime_type": "image/png"}
    follow_up = NewTask("thumbnail", record, 20, file_id=file_id, batch_id=1)
    assert queue.complete(store_id, {"path": "ab/x.png"}, record=record, follow_up=follow_up) is None

    store = queue.get(store_id)
    assert (store.status, store.result, store.finished_at is not None) == (DONE, {"path": "ab/x.png"}, True)
    [thumbnail] = queue.tasks(PENDING)
    assert (thumbnail.type, thumbnail.payload, thumbnail.file_id) == ("thumbnail", record, file_id)
    assert queue.get_file(file_id).status == PROCESSING
    assert queue.get_file(file_id).record == record


def test_a_batch_of_this_run_ends_without_a_store_write_its_item_takes_the_records(
    queue: FileQueue,
) -> None:
    [file_id] = queue.add_batch("noon:N2", [("u1", "image")], priority=20, item={"seen_at": None})
    task = queue.add_task(NewTask("upload", {}, 20, file_id=file_id))
    queue.claim(1)
    done = queue.complete(task, {"stored": {}}, record={"url": "u1", "status": DONE})
    assert done is not None
    assert (done.status, done.record) == (DONE, {"url": "u1", "status": DONE})
    assert [t.type for t in queue.tasks()] == ["upload"]


def test_the_last_file_of_a_batch_whose_item_is_gone_adds_its_store_write_once(
    tmp_path: Path, clock: Clock
) -> None:
    path = tmp_path / "queue.sqlite3"
    first = FileQueue(path, clock).open()
    seen = {"seen_at": "2026-01-02T03:04:05+00:00"}
    image, document = first.add_batch("noon:N2", [("u1", "image"), ("u2", "document")], 20, item=seen)
    a = first.add_task(NewTask("upload", {}, 20, file_id=image))
    b = first.add_task(NewTask("store", {"spool": "/s/2"}, 20, file_id=document))
    first.close()  # the crawl stops before its files end: the item is gone

    queue = FileQueue(path, clock).open()
    queue.recover(max_attempts=3)
    queue.claim(2)
    done = queue.complete(a, {"stored": {}}, record={"url": "u1", "status": DONE})
    assert done is not None
    assert done.status == DONE
    assert not [t for t in queue.tasks() if t.type == "store_records"]
    failed = queue.fail(
        b,
        "type_mismatch: served as application/pdf but the body is text/html",
        record={"url": "u2", "status": FAILED},
    )
    assert failed is not None
    assert failed.reason == "type_mismatch: served as application/pdf but the body is text/html"
    [write] = [t for t in queue.tasks() if t.type == "store_records"]
    assert write.payload == {
        "item_key": "noon:N2",
        "files": [{"url": "u1", "status": DONE}, {"url": "u2", "status": FAILED}],
        "item": seen,
    }
    assert (write.priority, write.file_id, write.batch_id) == (15, None, failed.batch_id)
    queue.fail_file(image, "again", {"url": "u1"})  # a late event must not add a second one
    assert len([t for t in queue.tasks() if t.type == "store_records"]) == 1
    queue.close()


def test_a_dead_runs_finished_batch_its_item_never_took_gets_its_store_write_at_the_next_start(
    tmp_path: Path, clock: Clock
) -> None:
    path = tmp_path / "queue.sqlite3"
    first = FileQueue(path, clock).open()
    [taken] = first.add_batch("noon:N5", [("u5", "image")], 10)
    [lost] = first.add_batch("noon:N6", [("u6", "image")], 10)
    for file_id, url in ((taken, "u5"), (lost, "u6")):
        first.fail_file(file_id, "download: http_status: HTTP 404", {"url": url, "status": FAILED})
    first.answered(taken)  # N5's item took its records; the crawl died before N6's did
    assert first.tasks() == []
    first.close()

    queue = FileQueue(path, clock).open()
    assert queue.recover(max_attempts=3).pending == 1
    [write] = queue.tasks(PENDING)
    assert (write.type, write.payload["item_key"]) == ("store_records", "noon:N6")
    assert queue.recover(max_attempts=3).pending == 1  # once
    queue.close()


def test_file_counts_count_the_files_of_this_runs_batches(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "queue.sqlite3"
    other = FileQueue(path, clock).open()
    other.add_batch("noon:N0", [("u0", "image")], 10)
    queue = FileQueue(path, clock).open()
    one, two, three = queue.add_batch("noon:N1", [("u1", "image"), ("u2", "image"), ("u3", "image")], 10)
    queue.add_task(NewTask("store", {}, 10, file_id=one))
    queue.fail_file(two, "download: http_status: HTTP 404", {"url": "u2"})
    assert queue.file_counts() == {"downloading": 1, PROCESSING: 1, DONE: 0, FAILED: 1}
    assert queue.counts() == {PENDING: 1, PROCESSING: 0, DONE: 0, FAILED: 0}
    assert three
    queue.close()
    other.close()


def test_finishing_a_task_that_is_not_processing_is_refused(queue: FileQueue) -> None:
    task_id = queue.add_task(NewTask("store", {}, priority=0))
    with pytest.raises(LookupError, match="not processing"):
        queue.complete(task_id, {})
    assert queue.get(task_id).status == PENDING


def test_recover_requeues_what_a_killed_run_left_and_fails_interrupted_downloads(
    tmp_path: Path, clock: Clock
) -> None:
    path = tmp_path / "queue.sqlite3"
    first = FileQueue(path, clock).open()
    waiting, downloading = first.add_batch("noon:N3", [("u1", "document"), ("u2", "image")], priority=10)
    running = first.add_task(NewTask("store", {"spool": str(tmp_path / "s1")}, 10, file_id=waiting))
    first.claim(1)
    first.close()  # the process dies here: no result recorded

    second = FileQueue(path, clock).open()
    recovery = second.recover(max_attempts=3)
    assert (recovery.requeued, recovery.exhausted, recovery.pending, recovery.interrupted_files) == (
        1,
        0,
        1,
        1,
    )
    assert recovery.spool_paths == frozenset({str(tmp_path / "s1")})
    task = second.get(running)
    assert (task.status, task.attempts) == (PENDING, 1)  # the attempt it used stays counted
    lost = second.get_file(downloading)
    assert (lost.status, lost.reason) == (FAILED, INTERRUPTED_REASON)
    second.close()


def test_a_task_that_keeps_taking_the_crawl_down_ends_failed(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "queue.sqlite3"
    [file_id] = FileQueue(path, clock).open().add_batch("noon:N4", [("u", "document")], priority=10)
    for run in range(3):  # each run claims the task, then the whole process dies
        queue = FileQueue(path, clock).open()
        queue.recover(max_attempts=3)
        if run == 0:
            queue.add_task(NewTask("extract_text", {"url": "u"}, 10, file_id=file_id))
        assert [task.attempts for task in queue.claim(1)] == [run + 1]
        queue.close()
    queue = FileQueue(path, clock).open()
    recovery = queue.recover(max_attempts=3)
    assert (recovery.exhausted, recovery.pending) == (1, 1)  # pending: the gone item's store write
    [task] = queue.tasks(FAILED)
    assert task.reason == EXHAUSTED_REASON
    assert queue.get_file(file_id).record == {"url": "u", "status": FAILED, "reason": EXHAUSTED_REASON}
    assert [t.type for t in queue.tasks(PENDING)] == ["store_records"]
    queue.close()


_KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from looqta.files.queue import FileQueue, NewTask

    queue = FileQueue(Path(sys.argv[1])).open()
    queue.add_task(NewTask("store", {"committed": True}, 0))
    queue.db.execute("BEGIN IMMEDIATE")
    queue.insert_task(NewTask("store", {"committed": False}, 0), 0.0)
    os.kill(os.getpid(), signal.SIGKILL)  # mid-transaction
    """
)


def test_a_process_killed_mid_transaction_leaves_only_committed_tasks(tmp_path: Path) -> None:
    path = tmp_path / "queue.sqlite3"
    done = subprocess.run(
        [sys.executable, "-c", _KILLED_WRITER, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    queue = FileQueue(path).open()
    assert [task.payload for task in queue.tasks()] == [{"committed": True}]
    assert json.loads(queue.db.execute("SELECT payload FROM tasks").fetchone()[0]) == {"committed": True}
    queue.close()
