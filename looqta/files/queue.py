"""The durable file queue: SQLite in WAL mode, one file under ``LOOQTA_FILES_DIR``.

Four tables:

* ``runs``     one per :class:`FileQueue` opened on the file (a crawl's file service): who it is,
               its lease (see :mod:`looqta.files.runs`);
* ``batches``  one per item handed to the pipeline (its key, how many files it lists, what the
               DB update needs to know about the item, the run that opened it);
* ``files``    one per file URL of a batch, with its result record as it grows;
* ``tasks``    the work: ``store``, ``thumbnail``, ``extract_text``, ``upload``, ``db_update``,
               each owned by one run (``run_id``), the only run that claims it.

A task goes ``pending`` → ``processing`` → ``done`` | ``failed``, or back to ``pending`` (with a
``not_before`` backoff) for another attempt. Its result, the file's record and the file's next
task are written in one transaction, so a crash at any point leaves either the old state (the
task runs again) or the new one, never a task that vanished. When the last file of a batch
ends, the batch's ``db_update`` task is added in that same transaction.

Two runs can share the file: each claims its own tasks only, and a run's leftovers are taken
over (:meth:`FileQueue.adopt`) only once that run is dead: its process is gone, it closed, or its
lease ran out. A run that finishes a task another run took over in the meantime gets
:class:`LostTask`, and the other run's result stands.

The class is synchronous and not thread-safe: the service drives it from one thread.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from looqta.files.runs import RunIdentity, RunRow, is_alive, process_started_at

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from pathlib import Path

PENDING, PROCESSING, DONE, FAILED = "pending", "processing", "done", "failed"
TASK_STATUSES: tuple[str, ...] = (PENDING, PROCESSING, DONE, FAILED)
#: A file's states: waiting for its download, in the task chain, finished either way.
DOWNLOADING = "downloading"
DB_UPDATE_PRIORITY_OFFSET = -5
INTERRUPTED_REASON = "interrupted: the crawl stopped before the download finished"
EXHAUSTED_REASON = "crawl_crashed: the crawl stopped while this task ran, on each of its attempts"
#: Reason prefix of a ``db_update`` whose database could not be reached on any attempt: such
#: tasks go back to ``pending`` when the next run starts.
DB_UNAVAILABLE = "db_unavailable"
#: A run that has not renewed its lease for this long is presumed dead (hung, or on a machine
#: whose processes this one cannot see).
DEFAULT_LEASE_SECONDS = 300.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    process_started_at REAL,
    started_at REAL NOT NULL,
    heartbeat_at REAL NOT NULL,
    ended_at REAL,
    adopted_by TEXT
);
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
#: Columns added since the first release of the queue: ``(table, column, declaration)``. A queue
#: file written before them gets them on open; its rows have no run (taken over at the next start).
_ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("batches", "run_id", "TEXT"),
    ("batches", "item", "TEXT"),
    ("tasks", "run_id", "TEXT"),
)
_ADDED_INDEXES = """
CREATE INDEX IF NOT EXISTS tasks_owner ON tasks(run_id, status, priority DESC, id);
CREATE INDEX IF NOT EXISTS batches_run ON batches(run_id);
CREATE INDEX IF NOT EXISTS files_status ON files(status);
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
    """What :meth:`FileQueue.recover` (or :meth:`FileQueue.adopt`) took over from dead runs."""

    requeued: int  #: tasks that were ``processing`` in a dead run (``exhausted`` included)
    exhausted: int  #: of those, the ones that used all their attempts: now ``failed``
    pending: int  #: this run's pending tasks afterwards
    interrupted_files: int  #: files a dead run was still downloading: now ``failed``
    spool_paths: frozenset[str]  #: at a start: spool files pending or running ``store`` tasks need
    adopted_runs: int = 0  #: dead runs whose leftovers this run took over
    adopted_tasks: int = 0  #: their pending and processing tasks, now this run's
    retried_updates: int = 0  #: ``db_update`` tasks failed for an unreachable database, pending again
    live_runs: frozenset[str] = frozenset()  #: ids of the other runs still alive


class LostTask(LookupError):
    """This run finished a task that another run took over, having presumed this run dead."""


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


def _owned_by(column: str, run_ids: list[str], *, include_unowned: bool) -> str:
    """SQL (placeholders only, one per run id) true for rows whose ``column`` is one of ``run_ids``."""
    condition = f"{column} IN ({','.join('?' * len(run_ids))})" if run_ids else "0"
    return f"({condition} OR {column} IS NULL)" if include_unowned else condition


def _run(row: sqlite3.Row) -> RunRow:
    return RunRow(
        id=row["id"],
        pid=row["pid"],
        host=row["host"],
        process_started_at=row["process_started_at"],
        started_at=row["started_at"],
        heartbeat_at=row["heartbeat_at"],
        ended_at=row["ended_at"],
        adopted_by=row["adopted_by"],
    )


class FileQueue:
    """One run's handle on the queue file; ``open()`` registers the run, ``close()`` ends it.

    ``lease_seconds`` and ``probe`` decide when another run is dead (:func:`~looqta.files.runs.is_alive`).
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
        self.lease_seconds = lease_seconds
        self.probe = probe
        self.identity = identity or RunIdentity.current()
        self._db: sqlite3.Connection | None = None

    @property
    def run_id(self) -> str:
        return self.identity.id

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
        try:
            self._migrate()
            self._register()
        except BaseException:
            self.close()
            raise
        return self

    def _migrate(self) -> None:
        """Add the columns a queue file written by an older release lacks (once, whoever opens first)."""
        with self._transaction() as db:
            for table, column, declaration in _ADDED_COLUMNS:
                present = {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}
                if column not in present:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            for statement in filter(str.strip, _ADDED_INDEXES.split(";")):
                db.execute(statement)

    def _register(self) -> None:
        me, now = self.identity, self.clock()
        self.db.execute(
            "INSERT INTO runs (id, pid, host, process_started_at, started_at, heartbeat_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (me.id, me.pid, me.host, me.process_started_at, now, now),
        )

    def close(self) -> None:
        """End this run: what it leaves ``pending`` or ``processing`` is taken over by the next
        run that starts (or by a run alive now, at its next heartbeat)."""
        if self._db is not None:
            try:
                self._db.execute(
                    "UPDATE runs SET ended_at = ? WHERE id = ? AND ended_at IS NULL",
                    (self.clock(), self.run_id),
                )
            finally:
                self._db.close()
                self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the file queue is not open")
        return self._db

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``): committed when the block ends, rolled back
        if it raises."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    # runs --------------------------------------------------------------------------------------

    def heartbeat(self) -> bool:
        """Renew this run's lease. False when another run presumed this one dead and took its
        work over: the caller must :meth:`rejoin` (its own claims are lost)."""
        cursor = self.db.execute(
            "UPDATE runs SET heartbeat_at = ? WHERE id = ? AND ended_at IS NULL AND adopted_by IS NULL",
            (self.clock(), self.run_id),
        )
        return cursor.rowcount == 1

    def rejoin(self) -> str:
        """Register again under a new run id (after :meth:`heartbeat` returned False); the new id."""
        self.identity = self.identity.renewed()
        self._register()
        return self.run_id

    def runs(self) -> list[RunRow]:
        return [_run(row) for row in self.db.execute("SELECT * FROM runs ORDER BY started_at, id")]

    def _alive(self, run: RunRow, now: float) -> bool:
        if run.id == self.run_id:
            return True
        return is_alive(
            run, host=self.identity.host, now=now, lease_seconds=self.lease_seconds, probe=self.probe
        )

    # writes ------------------------------------------------------------------------------------

    def add_batch(
        self,
        item_key: str,
        files: Iterable[tuple[str, str]],
        priority: int,
        item: dict[str, Any] | None = None,
    ) -> list[int]:
        """A batch for one item and a ``downloading`` file row per ``(url, kind)``; the file ids.

        ``item`` is what the ``db_update`` needs to know about the item besides its files (plain
        JSON values; the pipeline's choice); it rides along in the ``db_update`` payload.
        """
        files = list(files)
        now = self.clock()
        with self._transaction() as db:
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
        with self._transaction() as db:
            task_id = self._insert_task(task, self.clock())
            if task.file_id is not None:
                started = db.execute(
                    "UPDATE files SET status = ?, updated_at = ? WHERE id = ? AND status = ?",
                    (PROCESSING, self.clock(), task.file_id, DOWNLOADING),
                ).rowcount
                if not started:
                    raise LostTask(f"file {task.file_id} no longer waits for its download")
        return task_id

    def _insert_task(self, task: NewTask, now: float) -> int:
        """Insert a ``pending`` task owned by this run."""
        cursor = self.db.execute(
            "INSERT INTO tasks (type, status, priority, not_before, created_at, updated_at,"
            " file_id, batch_id, payload, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
        with self._transaction() as db:
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
        with self._transaction():
            finished = self._finish_in(task_id, status, result, reason, record, follow_up, self.clock())
        return finished

    def _check_owned(self, task_id: int) -> sqlite3.Row:
        row = self.db.execute("SELECT file_id, status, run_id FROM tasks WHERE id = ?", (task_id,)).fetchone()
        if row is None:
            raise LookupError(f"no task {task_id}")
        if row["run_id"] != self.run_id:
            raise LostTask(f"task {task_id} was taken over by run {row['run_id']}")
        if row["status"] != PROCESSING:
            raise LookupError(f"task {task_id} is not processing")
        return row

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
            self._insert_task(follow_up, now)
            return self._update_file(file_id, PROCESSING, record, reason, now)
        return self._update_file(file_id, status, record, reason, now)

    def fail_file(self, file_id: int, reason: str, record: dict[str, Any]) -> FileRow | None:
        """A file that never became a task (its download failed) ends ``failed``."""
        with self._transaction():
            finished = self._update_file(file_id, FAILED, record, reason, self.clock())
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
        payload: dict[str, Any] = {"item_key": batch["item_key"], "files": records}
        if batch["item"] is not None:
            payload["item"] = json.loads(batch["item"])
        priority = batch["priority"] + DB_UPDATE_PRIORITY_OFFSET
        self._insert_task(NewTask("db_update", payload, priority, batch_id=batch_id), now)

    def retry(self, task_id: int, reason: str, not_before: float) -> None:
        """Put a task back to ``pending``, not to run before ``not_before``."""
        now = self.clock()
        with self._transaction() as db:
            self._check_owned(task_id)
            db.execute(
                "UPDATE tasks SET status = ?, reason = ?, not_before = ?, updated_at = ? WHERE id = ?",
                (PENDING, reason, not_before, now, task_id),
            )

    # taking over what dead runs left -----------------------------------------------------------

    def recover(self, max_attempts: int) -> Recovery:
        """At start: take over what dead runs left (:meth:`adopt`), including rows written
        before runs were recorded, and give ``db_update`` tasks that failed because the database
        was unreachable another set of attempts. The result names the spool files that pending
        and running ``store`` tasks (of any run) still need."""
        return self._adopt(max_attempts, at_start=True)

    def adopt(self, max_attempts: int) -> Recovery:
        """Take over the leftovers of every run that is dead now (none of a live one).

        Their ``processing`` tasks go back to ``pending`` (the attempt they used stays counted),
        unless they have used ``max_attempts``: a task that took its crawl down that often ends
        ``failed``. Their pending tasks become this run's. Files they were still downloading can
        never finish: they end ``failed``. Returns what was found.
        """
        return self._adopt(max_attempts, at_start=False)

    def _adopt(self, max_attempts: int, *, at_start: bool) -> Recovery:
        now = self.clock()
        with self._transaction() as db:
            others = [
                _run(row)
                for row in db.execute(
                    "SELECT * FROM runs WHERE id != ? AND adopted_by IS NULL", (self.run_id,)
                )
            ]
            dead = [run.id for run in others if not self._alive(run, now)]
            tasks: list[sqlite3.Row] = []
            requeued = exhausted = interrupted = retried_updates = 0
            spools: frozenset[str] = frozenset()
            if dead or at_start:  # rows from before runs were recorded have no owner: taken at a start
                tasks = self._owned_tasks(dead, include_unowned=at_start)
                requeued, exhausted = self._take_over(tasks, max_attempts, now)
                interrupted = self._interrupt_downloads(dead, include_unowned=at_start, now=now)
                db.executemany(
                    "UPDATE runs SET adopted_by = ?, ended_at = COALESCE(ended_at, ?) WHERE id = ?",
                    [(self.run_id, now, run_id) for run_id in dead],
                )
            if at_start:
                retried_updates = self._retry_unreachable_updates(now)
                spools = frozenset(
                    json.loads(row["payload"])["spool"]
                    for row in db.execute(
                        "SELECT payload FROM tasks WHERE type = 'store' AND status IN (?, ?)",
                        (PENDING, PROCESSING),
                    )
                )
            pending = db.execute(
                "SELECT COUNT(*) FROM tasks WHERE run_id = ? AND status = ?", (self.run_id, PENDING)
            ).fetchone()[0]
        return Recovery(
            requeued=requeued + exhausted,
            exhausted=exhausted,
            pending=pending,
            interrupted_files=interrupted,
            spool_paths=spools,
            adopted_runs=len(dead),
            adopted_tasks=len(tasks),
            retried_updates=retried_updates,
            live_runs=frozenset(run.id for run in others if run.id not in dead),
        )

    def _owned_tasks(self, run_ids: list[str], *, include_unowned: bool) -> list[sqlite3.Row]:
        """The pending and processing tasks of ``run_ids`` (and of no run)."""
        owned = _owned_by("run_id", run_ids, include_unowned=include_unowned)
        select = (
            "SELECT id, status, attempts, file_id FROM tasks"  # noqa: S608 - placeholders only
            f" WHERE status IN (?, ?) AND {owned}"
        )
        return self.db.execute(select, (PENDING, PROCESSING, *run_ids)).fetchall()

    def _take_over(self, tasks: list[sqlite3.Row], max_attempts: int, now: float) -> tuple[int, int]:
        """Make a dead run's pending and processing ``tasks`` this run's; processing ones go back
        to pending, or end ``failed`` when they used every attempt. ``(requeued, exhausted)``."""
        db = self.db
        db.executemany(
            "UPDATE tasks SET run_id = ? WHERE id = ?", [(self.run_id, row["id"]) for row in tasks]
        )
        running = [row for row in tasks if row["status"] == PROCESSING]
        stuck = [row for row in running if row["attempts"] >= max_attempts]
        for row in stuck:
            record = None
            if row["file_id"] is not None:
                failed = {"status": FAILED, "reason": EXHAUSTED_REASON}
                record = {**self.get_file(row["file_id"]).record, **failed}
            self._finish_in(row["id"], FAILED, None, EXHAUSTED_REASON, record, None, now)
        requeue = [(PENDING, now, row["id"]) for row in running if row["attempts"] < max_attempts]
        db.executemany("UPDATE tasks SET status = ?, updated_at = ? WHERE id = ?", requeue)
        return len(requeue), len(stuck)

    def _interrupt_downloads(self, run_ids: list[str], *, include_unowned: bool, now: float) -> int:
        """Files the batches of ``run_ids`` were still downloading end ``failed``: no body will
        come. Their item's ``db_update`` is added when that was its last open file."""
        owned = _owned_by("batches.run_id", run_ids, include_unowned=include_unowned)
        select = (
            "SELECT files.* FROM files JOIN batches ON batches.id = files.batch_id"  # noqa: S608 - placeholders only
            f" WHERE files.status = ? AND {owned}"
        )
        interrupted = [_file(row) for row in self.db.execute(select, (DOWNLOADING, *run_ids)).fetchall()]
        for file_row in interrupted:
            record = {**file_row.record, "status": FAILED, "reason": INTERRUPTED_REASON}
            self._update_file(file_row.id, FAILED, record, INTERRUPTED_REASON, now)
        return len(interrupted)

    def _retry_unreachable_updates(self, now: float) -> int:
        """``db_update`` tasks that failed because the database was unreachable: pending again,
        with a fresh set of attempts, owned by this run."""
        return self.db.execute(
            "UPDATE tasks SET status = ?, attempts = 0, not_before = ?, updated_at = ?, finished_at = NULL,"
            " run_id = ? WHERE type = 'db_update' AND status = ? AND reason LIKE ?",
            (PENDING, now, now, self.run_id, FAILED, f"{DB_UNAVAILABLE}:%"),
        ).rowcount

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
        """Every run's tasks (all, or those in ``status``), oldest first."""
        if status is None:
            rows = self.db.execute("SELECT * FROM tasks ORDER BY id").fetchall()
        else:
            rows = self.db.execute("SELECT * FROM tasks WHERE status = ? ORDER BY id", (status,)).fetchall()
        return [_task(row) for row in rows]

    def counts(self) -> dict[str, int]:
        """This run's tasks per status, every status present."""
        found = dict.fromkeys(TASK_STATUSES, 0)
        for row in self.db.execute(
            "SELECT status, COUNT(*) AS n FROM tasks WHERE run_id = ? GROUP BY status", (self.run_id,)
        ):
            found[row["status"]] = row["n"]
        return found

    def next_due(self) -> float | None:
        """When this run's earliest pending task may run; None when it has nothing pending."""
        row = self.db.execute(
            "SELECT MIN(not_before) FROM tasks WHERE run_id = ? AND status = ?", (self.run_id, PENDING)
        ).fetchone()
        return row[0]
