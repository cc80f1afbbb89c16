"""The durable file queue: SQLite in WAL mode, one file under ``LOOQTA_FILES_DIR``.

Three tables:

* ``batches``  one per item handed to the pipeline (its key and how many files it lists);
* ``files``    one per file URL of a batch, with its result record as it grows;
* ``tasks``    the work: ``store``, ``thumbnail``, ``extract_text``, ``upload``, ``db_update``.

A task goes ``pending`` → ``processing`` → ``done`` | ``failed``, or back to ``pending`` (with a
``not_before`` backoff) for another attempt. Its result, the file's record and the file's next
task are written in one transaction, so a crash at any point leaves either the old state (the
task runs again) or the new one, never a task that vanished. When the last file of a batch
ends, the batch's ``db_update`` task is added in that same transaction.

The class is synchronous and not thread-safe: the service drives it from one thread.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from pathlib import Path

PENDING, PROCESSING, DONE, FAILED = "pending", "processing", "done", "failed"
TASK_STATUSES: tuple[str, ...] = (PENDING, PROCESSING, DONE, FAILED)
#: A file's states: waiting for its download, in the task chain, finished either way.
DOWNLOADING = "downloading"
DB_UPDATE_PRIORITY_OFFSET = -5
INTERRUPTED_REASON = "interrupted: the crawl stopped before the download finished"
EXHAUSTED_REASON = "crawl_crashed: the crawl stopped while this task ran, on each of its attempts"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY,
    item_key TEXT NOT NULL,
    file_count INTEGER NOT NULL,
    priority INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    batch_id INTEGER NOT NULL REFERENCES batches(id),
    url TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    record TEXT NOT NULL,
    reason TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS files_batch ON files(batch_id);
CREATE TABLE IF NOT EXISTS tasks (
    id INTEGER PRIMARY KEY,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    priority INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    not_before REAL NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    file_id INTEGER REFERENCES files(id),
    batch_id INTEGER REFERENCES batches(id),
    payload TEXT NOT NULL,
    result TEXT,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS tasks_next ON tasks(status, priority DESC, id);
CREATE INDEX IF NOT EXISTS tasks_file ON tasks(file_id);
"""


@dataclass(frozen=True)
class Task:
    id: int
    type: str
    status: str
    priority: int
    attempts: int
    not_before: float
    created_at: float
    updated_at: float
    started_at: float | None
    finished_at: float | None
    file_id: int | None
    batch_id: int | None
    payload: dict[str, Any]
    result: dict[str, Any] | None
    reason: str | None


@dataclass(frozen=True)
class FileRow:
    id: int
    batch_id: int
    url: str
    kind: str
    status: str
    record: dict[str, Any]
    reason: str | None


@dataclass(frozen=True)
class NewTask:
    """A task to add: its type, payload and priority; file and batch it belongs to."""

    type: str
    payload: dict[str, Any]
    priority: int
    file_id: int | None = None
    batch_id: int | None = None


@dataclass(frozen=True)
class Recovery:
    """What :meth:`FileQueue.recover` found left over by a previous run."""

    requeued: int
    exhausted: int
    pending: int
    interrupted_files: int
    spool_paths: frozenset[str]


def _task(row: sqlite3.Row) -> Task:
    return Task(
        id=row["id"],
        type=row["type"],
        status=row["status"],
        priority=row["priority"],
        attempts=row["attempts"],
        not_before=row["not_before"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        file_id=row["file_id"],
        batch_id=row["batch_id"],
        payload=json.loads(row["payload"]),
        result=None if row["result"] is None else json.loads(row["result"]),
        reason=row["reason"],
    )


def _file(row: sqlite3.Row) -> FileRow:
    return FileRow(
        id=row["id"],
        batch_id=row["batch_id"],
        url=row["url"],
        kind=row["kind"],
        status=row["status"],
        record=json.loads(row["record"]),
        reason=row["reason"],
    )


class FileQueue:
    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self.clock = clock
        self._db: sqlite3.Connection | None = None

    # lifecycle ---------------------------------------------------------------------------------

    def open(self) -> FileQueue:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
        db.row_factory = sqlite3.Row
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            db.close()
            raise RuntimeError(f"{self.path}: SQLite refused WAL mode (got {mode!r})")
        # NORMAL in WAL mode: a commit survives a crash of this process; a power loss may lose
        # the last commits but never corrupts the file.
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.executescript(_SCHEMA)
        self._db = db
        return self

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the file queue is not open")
        return self._db

    def _transaction(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    # writes ------------------------------------------------------------------------------------

    def add_batch(self, item_key: str, files: Iterable[tuple[str, str]], priority: int) -> list[int]:
        """A batch for one item and a ``downloading`` file row per ``(url, kind)``; the file ids."""
        files = list(files)
        now = self.clock()
        db = self._transaction()
        try:
            batch_id = db.execute(
                "INSERT INTO batches (item_key, file_count, priority, created_at) VALUES (?, ?, ?, ?)",
                (item_key, len(files), priority, now),
            ).lastrowid
            ids = [
                db.execute(
                    "INSERT INTO files (batch_id, url, kind, status, record, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (batch_id, url, kind, DOWNLOADING, json.dumps({"url": url}), now, now),
                ).lastrowid
                for url, kind in files
            ]
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return [int(i) for i in ids if i is not None]

    def add_task(self, task: NewTask) -> int:
        db = self._transaction()
        try:
            task_id = self._insert_task(task, self.clock())
            if task.file_id is not None:
                db.execute(
                    "UPDATE files SET status = ?, updated_at = ? WHERE id = ?",
                    (PROCESSING, self.clock(), task.file_id),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return task_id

    def _insert_task(self, task: NewTask, now: float) -> int:
        cursor = self.db.execute(
            "INSERT INTO tasks (type, status, priority, not_before, created_at, updated_at,"
            " file_id, batch_id, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            ),
        )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def claim(self, limit: int) -> list[Task]:
        """Up to ``limit`` runnable tasks, highest priority first, now ``processing``.

        The attempt is counted here, when the task starts: a task that takes its worker (or the
        whole crawl) down with it has used an attempt.
        """
        if limit <= 0:
            return []
        now = self.clock()
        db = self._transaction()
        try:
            rows = db.execute(
                "SELECT id FROM tasks WHERE status = ? AND not_before <= ?"
                " ORDER BY priority DESC, id LIMIT ?",
                (PENDING, now, limit),
            ).fetchall()
            ids = [row["id"] for row in rows]
            db.executemany(
                "UPDATE tasks SET status = ?, attempts = attempts + 1, started_at = ?, updated_at = ?"
                " WHERE id = ?",
                [(PROCESSING, now, now, task_id) for task_id in ids],
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
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
        finished, so the caller can hand the record on.
        """
        return self._finish(task_id, DONE, result=result, reason=None, record=record, follow_up=follow_up)

    def fail(self, task_id: int, reason: str, *, record: dict[str, Any] | None = None) -> FileRow | None:
        """Record a task's final failure; its file (if any) ends ``failed`` with the same reason."""
        return self._finish(task_id, FAILED, result=None, reason=reason, record=record, follow_up=None)

    def _finish(
        self,
        task_id: int,
        status: str,
        *,
        result: dict[str, Any] | None,
        reason: str | None,
        record: dict[str, Any] | None,
        follow_up: NewTask | None,
    ) -> FileRow | None:
        db = self._transaction()
        try:
            finished = self._finish_in(task_id, status, result, reason, record, follow_up, self.clock())
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return finished

    def _finish_in(
        self,
        task_id: int,
        status: str,
        result: dict[str, Any] | None,
        reason: str | None,
        record: dict[str, Any] | None,
        follow_up: NewTask | None,
        now: float,
    ) -> FileRow | None:
        db = self.db
        row = db.execute("SELECT file_id, status FROM tasks WHERE id = ?", (task_id,)).fetchone()
        if row is None or row["status"] != PROCESSING:
            raise LookupError(f"task {task_id} is not processing")
        db.execute(
            "UPDATE tasks SET status = ?, result = ?, reason = ?, finished_at = ?, updated_at = ?"
            " WHERE id = ?",
            (status, None if result is None else json.dumps(result), reason, now, now, task_id),
        )
        file_id = row["file_id"]
        if file_id is None:
            return None
        if follow_up is not None:
            self._insert_task(follow_up, now)
            return self._update_file(file_id, PROCESSING, record, reason, now)
        return self._update_file(file_id, status, record, reason, now)

    def fail_file(self, file_id: int, reason: str, record: dict[str, Any]) -> FileRow | None:
        """A file that never became a task (its download failed) ends ``failed``."""
        db = self._transaction()
        try:
            finished = self._update_file(file_id, FAILED, record, reason, self.clock())
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return finished

    def _update_file(
        self, file_id: int, status: str, record: dict[str, Any] | None, reason: str | None, now: float
    ) -> FileRow | None:
        db = self.db
        if record is not None:
            db.execute("UPDATE files SET record = ? WHERE id = ?", (json.dumps(record), file_id))
        db.execute(
            "UPDATE files SET status = ?, reason = COALESCE(?, reason), updated_at = ? WHERE id = ?",
            (status, reason, now, file_id),
        )
        if status not in (DONE, FAILED):
            return None
        finished = _file(db.execute("SELECT * FROM files WHERE id = ?", (file_id,)).fetchone())
        self._maybe_close_batch(finished.batch_id, now)
        return finished

    def _maybe_close_batch(self, batch_id: int, now: float) -> None:
        """When every file of the batch has ended, add its ``db_update`` task (once)."""
        db = self.db
        batch = db.execute("SELECT * FROM batches WHERE id = ?", (batch_id,)).fetchone()
        open_files = db.execute(
            "SELECT COUNT(*) FROM files WHERE batch_id = ? AND status NOT IN (?, ?)",
            (batch_id, DONE, FAILED),
        ).fetchone()[0]
        already = db.execute(
            "SELECT 1 FROM tasks WHERE batch_id = ? AND type = 'db_update'", (batch_id,)
        ).fetchone()
        if open_files or already:
            return
        records = [
            json.loads(r["record"])
            for r in db.execute("SELECT record FROM files WHERE batch_id = ? ORDER BY id", (batch_id,))
        ]
        payload = {"item_key": batch["item_key"], "files": records}
        priority = batch["priority"] + DB_UPDATE_PRIORITY_OFFSET
        self._insert_task(NewTask("db_update", payload, priority, batch_id=batch_id), now)

    def retry(self, task_id: int, reason: str, not_before: float) -> None:
        """Put a task back to ``pending``, not to run before ``not_before``."""
        now = self.clock()
        db = self._transaction()
        try:
            db.execute(
                "UPDATE tasks SET status = ?, reason = ?, not_before = ?, updated_at = ?"
                " WHERE id = ? AND status = ?",
                (PENDING, reason, not_before, now, task_id, PROCESSING),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def recover(self, max_attempts: int) -> Recovery:
        """At start: tasks a killed run left ``processing`` go back to ``pending`` (their attempt
        stays counted), unless they have used ``max_attempts``: a task that took the crawl down
        that often ends ``failed``. Files that were still downloading can never finish, so they
        end ``failed``. Returns what was found, with the spool files pending tasks still need."""
        now = self.clock()
        db = self._transaction()
        try:
            stuck = [
                row["id"]
                for row in db.execute(
                    "SELECT id FROM tasks WHERE status = ? AND attempts >= ?", (PROCESSING, max_attempts)
                )
            ]
            for task_id in stuck:
                record = None
                file_id = db.execute("SELECT file_id FROM tasks WHERE id = ?", (task_id,)).fetchone()[0]
                if file_id is not None:
                    row = self.get_file(file_id)
                    record = {**row.record, "status": FAILED, "reason": EXHAUSTED_REASON}
                self._finish_in(task_id, FAILED, None, EXHAUSTED_REASON, record, None, now)
            requeued = db.execute(
                "UPDATE tasks SET status = ?, updated_at = ? WHERE status = ?",
                (PENDING, now, PROCESSING),
            ).rowcount
            interrupted = [
                _file(row)
                for row in db.execute("SELECT * FROM files WHERE status = ?", (DOWNLOADING,)).fetchall()
            ]
            for row in interrupted:
                record = {**row.record, "status": FAILED, "reason": INTERRUPTED_REASON}
                self._update_file(row.id, FAILED, record, INTERRUPTED_REASON, now)
            pending = db.execute("SELECT COUNT(*) FROM tasks WHERE status = ?", (PENDING,)).fetchone()[0]
            spools = frozenset(
                json.loads(row["payload"])["spool"]
                for row in db.execute(
                    "SELECT payload FROM tasks WHERE type = 'store' AND status = ?", (PENDING,)
                )
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return Recovery(requeued + len(stuck), len(stuck), pending, len(interrupted), spools)

    # reads -------------------------------------------------------------------------------------

    def get(self, task_id: int) -> Task:
        row = self.db.execute("SELECT * FROM tasks WHERE id = ?", (task_id,)).fetchone()
        if row is None:
            raise LookupError(f"no task {task_id}")
        return _task(row)

    def get_file(self, file_id: int) -> FileRow:
        row = self.db.execute("SELECT * FROM files WHERE id = ?", (file_id,)).fetchone()
        if row is None:
            raise LookupError(f"no file {file_id}")
        return _file(row)

    def tasks(self, status: str | None = None) -> list[Task]:
        if status is None:
            rows = self.db.execute("SELECT * FROM tasks ORDER BY id").fetchall()
        else:
            rows = self.db.execute("SELECT * FROM tasks WHERE status = ? ORDER BY id", (status,)).fetchall()
        return [_task(row) for row in rows]

    def counts(self) -> dict[str, int]:
        """Tasks per status, every status present."""
        found = dict.fromkeys(TASK_STATUSES, 0)
        for row in self.db.execute("SELECT status, COUNT(*) AS n FROM tasks GROUP BY status"):
            found[row["status"]] = row["n"]
        return found

    def next_due(self) -> float | None:
        """When the earliest pending task may run; None when nothing is pending."""
        row = self.db.execute("SELECT MIN(not_before) FROM tasks WHERE status = ?", (PENDING,)).fetchone()
        return row[0]
