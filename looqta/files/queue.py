"""The durable file queue: batches (one per item), files (one per URL) and tasks, in SQLite.

A task goes ``pending`` → ``processing`` → ``done`` | ``failed``, or back to ``pending`` (with a
``not_before`` backoff) for another attempt. Its result, the file's record and the file's next
task are written in one transaction, so a crash at any point leaves either the old state (the
task runs again) or the new one, never a task that vanished.

When the last file of a batch ends and the batch was opened by another run (its item is gone:
that run died, or closed first), the batch's ``store_records`` task is added in that same
transaction; a batch of this run is answered through its waiting item instead.

Which run owns what, and taking over what dead runs left, is :mod:`looqta.files.ownership`. The
class is synchronous and not thread-safe: the service drives it from one thread.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from looqta.files.ownership import DEFAULT_LEASE_SECONDS, LostTask, RunOwnership
from looqta.files.runs import process_started_at
from looqta.files.schema import (
    DONE,
    DOWNLOADING,
    FAILED,
    FILE_STATUSES,
    PENDING,
    PROCESSING,
    TASK_STATUSES,
    FileRow,
    NewTask,
    Task,
    connect,
    file_of,
    task_of,
    transaction,
)
from looqta.files.tasks import BATCH, STORE_RECORDS, TASKS

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Callable, Iterable
    from contextlib import AbstractContextManager
    from pathlib import Path

    from looqta.files.ownership import Recovery
    from looqta.files.runs import RunIdentity

__all__ = ["DONE", "FAILED", "PENDING", "PROCESSING", "FileQueue", "FileRow", "LostTask", "NewTask", "Task"]


class FileQueue:
    """One run's handle on the queue file; ``open()`` registers the run, ``close()`` ends it.

    ``lease_seconds`` and ``probe`` decide when another run is dead (:mod:`looqta.files.runs`).
    """

    def __init__(
        self,
        path: Path,
        clock: Callable[[], float] = time.time,
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        probe: Callable[[int], float | None] = process_started_at,
        identity: RunIdentity | None = None,
    ) -> None:
        self.path = path
        self.clock = clock
        self.ownership = RunOwnership(self, lease_seconds=lease_seconds, probe=probe, identity=identity)
        self._db: sqlite3.Connection | None = None

    @property
    def run_id(self) -> str:
        return self.ownership.identity.id

    # lifecycle ---------------------------------------------------------------------------------

    def open(self) -> FileQueue:
        self._db = connect(self.path)
        try:
            self.ownership.register()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """End this run: what it leaves ``pending`` or ``processing`` is taken over by the next
        run that starts (or by a run alive now, at its next heartbeat)."""
        if self._db is not None:
            try:
                self.ownership.end()
            finally:
                self._db.close()
                self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the file queue is not open")
        return self._db

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self.db)

    def recover(self, max_attempts: int) -> Recovery:
        """At start: take over what dead runs left (:meth:`RunOwnership.recover`)."""
        return self.ownership.recover(max_attempts)

    # writes ------------------------------------------------------------------------------------

    def add_batch(
        self,
        item_key: str,
        files: Iterable[tuple[str, str]],
        priority: int,
        item: dict[str, Any] | None = None,
    ) -> list[int]:
        """A batch for one item and a ``downloading`` file row per ``(url, kind)``; the file ids.

        ``item`` is what ``store_records`` needs to know about the item besides its files (plain
        JSON values), should the batch outlive its item; it rides along in that task's payload.
        """
        files = list(files)
        now = self.clock()
        with self.transaction() as db:
            batch_id = db.execute(
                "INSERT INTO batches (item_key, file_count, priority, created_at, run_id, item)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    item_key,
                    len(files),
                    priority,
                    now,
                    self.run_id,
                    None if item is None else json.dumps(item),
                ),
            ).lastrowid
            ids = [
                db.execute(
                    "INSERT INTO files (batch_id, url, kind, status, record, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (batch_id, url, kind, DOWNLOADING, json.dumps({"url": url}), now, now),
                ).lastrowid
                for url, kind in files
            ]
        return [int(i) for i in ids if i is not None]

    def add_task(self, task: NewTask) -> int:
        """Queue a task; with a ``file_id``, the file's first task (its download has ended).

        Raises :class:`LostTask` when that file no longer waits for its download: another run
        presumed this one dead and gave the download up."""
        with self.transaction() as db:
            now = self.clock()
            if task.file_id is not None:
                claimed = db.execute(
                    "UPDATE files SET status = ?, updated_at = ? WHERE id = ? AND status = ?",
                    (PROCESSING, now, task.file_id, DOWNLOADING),
                )
                if claimed.rowcount != 1:
                    raise LostTask(f"file {task.file_id} no longer waits for its download")
            return self.insert_task(task, now)

    def insert_task(self, task: NewTask, now: float) -> int:
        cursor = self.db.execute(
            "INSERT INTO tasks (type, status, priority, not_before, created_at, updated_at, file_id,"
            " batch_id, payload, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                task.type,
                PENDING,
                task.priority,
                now,
                now,
                now,
                task.file_id,
                task.batch_id,
                json.dumps(task.payload),
                self.run_id,
            ),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def claim(self, limit: int) -> list[Task]:
        """Up to ``limit`` of this run's runnable tasks, highest priority first, now ``processing``.

        The attempt is counted here, when the task starts: a task that takes its worker (or the
        whole crawl) down with it has used an attempt.
        """
        if limit <= 0:
            return []
        now = self.clock()
        with self.transaction() as db:
            rows = db.execute(
                "SELECT id FROM tasks WHERE run_id = ? AND status = ? AND not_before <= ?"
                " ORDER BY priority DESC, id LIMIT ?",
                (self.run_id, PENDING, now, limit),
            ).fetchall()
            ids = [row["id"] for row in rows]
            db.executemany(
                "UPDATE tasks SET status = ?, attempts = attempts + 1, started_at = ?, updated_at = ?"
                " WHERE id = ?",
                [(PROCESSING, now, now, task_id) for task_id in ids],
            )
        return [self.get(task_id) for task_id in ids]

    def complete(
        self,
        task_id: int,
        result: dict[str, Any],
        *,
        record: dict[str, Any] | None = None,
        follow_up: NewTask | None = None,
    ) -> FileRow | None:
        """Record a task's result; update its file's record; add the file's next task.

        Without ``follow_up`` the file is finished (``done``). Returns the file row when the file
        finished, so the caller can hand the record on. Raises :class:`LostTask` when another
        run took the task over meanwhile.
        """
        with self.transaction():
            return self.finish(task_id, DONE, result, None, record, follow_up, self.clock())

    def fail(self, task_id: int, reason: str, *, record: dict[str, Any] | None = None) -> FileRow | None:
        """Record a task's final failure; its file (if any) ends ``failed`` with the same reason."""
        with self.transaction():
            return self.finish(task_id, FAILED, None, reason, record, None, self.clock())

    def _check_owned(self, task_id: int) -> sqlite3.Row:
        row = self.db.execute("SELECT file_id, status, run_id FROM tasks WHERE id = ?", (task_id,)).fetchone()
        if row is None:
            raise LookupError(f"no task {task_id}")
        if row["run_id"] != self.run_id:
            raise LostTask(f"task {task_id} was taken over by run {row['run_id']}")
        if row["status"] != PROCESSING:
            raise LookupError(f"task {task_id} is not processing")
        return row

    def finish(
        self,
        task_id: int,
        status: str,
        result: dict[str, Any] | None,
        reason: str | None,
        record: dict[str, Any] | None,
        follow_up: NewTask | None,
        now: float,
    ) -> FileRow | None:
        """Inside a transaction: a task's final status, and its file's (see :meth:`complete`)."""
        db = self.db
        row = self._check_owned(task_id)
        db.execute(
            "UPDATE tasks SET status = ?, result = ?, reason = ?, finished_at = ?, updated_at = ?"
            " WHERE id = ?",
            (status, None if result is None else json.dumps(result), reason, now, now, task_id),
        )
        file_id = row["file_id"]
        if file_id is None:
            return None
        if follow_up is not None:
            self.insert_task(follow_up, now)
            return self.update_file(file_id, PROCESSING, record, reason, now)
        return self.update_file(file_id, status, record, reason, now)

    def fail_file(self, file_id: int, reason: str, record: dict[str, Any]) -> FileRow | None:
        """A file that never became a task (its download failed) ends ``failed``."""
        with self.transaction():
            return self.update_file(file_id, FAILED, record, reason, self.clock())

    def update_file(
        self, file_id: int, status: str, record: dict[str, Any] | None, reason: str | None, now: float
    ) -> FileRow | None:
        """Inside a transaction: a file's status (and record); the row when the file ended."""
        db = self.db
        if record is not None:
            db.execute("UPDATE files SET record = ? WHERE id = ?", (json.dumps(record), file_id))
        db.execute(
            "UPDATE files SET status = ?, reason = COALESCE(?, reason), updated_at = ? WHERE id = ?",
            (status, reason, now, file_id),
        )
        if status not in (DONE, FAILED):
            return None
        finished = file_of(db.execute("SELECT * FROM files WHERE id = ?", (file_id,)).fetchone())
        self._maybe_close_batch(finished.batch_id, now)
        return finished

    def _maybe_close_batch(self, batch_id: int, now: float) -> None:
        """When every file of a batch whose item is gone (opened by another run) has ended, add
        its ``store_records`` task (once)."""
        db = self.db
        batch = db.execute("SELECT * FROM batches WHERE id = ?", (batch_id,)).fetchone()
        if batch["run_id"] == self.run_id:  # its item waits in this run and takes the records
            return
        open_files = db.execute(
            "SELECT COUNT(*) FROM files WHERE batch_id = ? AND status NOT IN (?, ?)",
            (batch_id, DONE, FAILED),
        ).fetchone()[0]
        already = db.execute(
            "SELECT 1 FROM tasks WHERE batch_id = ? AND type = ?", (batch_id, STORE_RECORDS)
        ).fetchone()
        if not open_files and not already:
            self.add_store_write(batch, now)

    def add_store_write(self, batch: sqlite3.Row, now: float) -> None:
        """Inside a transaction: the ``store_records`` task of a finished ``batch`` row."""
        db = self.db
        batch_id = batch["id"]
        records = [
            json.loads(r["record"])
            for r in db.execute("SELECT record FROM files WHERE batch_id = ? ORDER BY id", (batch_id,))
        ]
        payload: dict[str, Any] = {"item_key": batch["item_key"], "files": records}
        if batch["item"] is not None:
            payload["item"] = json.loads(batch["item"])
        write = TASKS[STORE_RECORDS]
        assert write.ends == BATCH
        priority = batch["priority"] + write.priority_offset
        self.insert_task(NewTask(STORE_RECORDS, payload, priority, batch_id=batch_id), now)

    def answered(self, file_id: int) -> None:
        """The item of ``file_id``'s batch took its records (or had no store to hand them to)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE batches SET answered_at = ? WHERE id = (SELECT batch_id FROM files WHERE id = ?)",
                (self.clock(), file_id),
            )

    def retry(self, task_id: int, reason: str, not_before: float) -> None:
        """Put a task back to ``pending``, not to run before ``not_before``."""
        now = self.clock()
        with self.transaction() as db:
            self._check_owned(task_id)
            db.execute(
                "UPDATE tasks SET status = ?, reason = ?, not_before = ?, updated_at = ? WHERE id = ?",
                (PENDING, reason, not_before, now, task_id),
            )

    # reads -------------------------------------------------------------------------------------

    def get(self, task_id: int) -> Task:
        row = self.db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
        if row is None:
            raise LookupError(f"no task {task_id}")
        return task_of(row)

    def get_file(self, file_id: int) -> FileRow:
        row = self.db.execute("SELECT * FROM files WHERE id = ?", (file_id,)).fetchone()
        if row is None:
            raise LookupError(f"no file {file_id}")
        return file_of(row)

    def tasks(self, status: str | None = None) -> list[Task]:
        """Every run's tasks (all, or those in ``status``), oldest first."""
        if status is None:
            rows = self.db.execute("SELECT * FROM tasks ORDER BY id").fetchall()
        else:
            rows = self.db.execute("SELECT * FROM tasks WHERE status = ? ORDER BY id", (status,)).fetchall()
        return [task_of(row) for row in rows]

    def counts(self) -> dict[str, int]:
        """This run's tasks per status, every status present."""
        found = dict.fromkeys(TASK_STATUSES, 0)
        for row in self.db.execute(
            "SELECT status, COUNT(*) AS n FROM tasks WHERE run_id = ? GROUP BY status", (self.run_id,)
        ):
            found[row["status"]] = row["n"]
        return found

    def file_counts(self) -> dict[str, int]:
        """The files of this run's batches per status (``downloading``, ``processing``, ``done``,
        ``failed``), every status present."""
        found = dict.fromkeys(FILE_STATUSES, 0)
        for row in self.db.execute(
            "SELECT files.status AS status, COUNT(*) AS n FROM files"
            " JOIN batches ON batches.id = files.batch_id WHERE batches.run_id = ? GROUP BY files.status",
            (self.run_id,),
        ):
            found[row["status"]] = row["n"]
        return found

    def next_due(self) -> float | None:
        """When this run's earliest pending task may run; None when it has nothing pending."""
        row = self.db.execute(
            "SELECT MIN(not_before) FROM tasks WHERE run_id = ? AND status = ?", (self.run_id, PENDING)
        ).fetchone()
        return row[0]
