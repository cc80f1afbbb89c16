"""The file queue's SQLite file: its tables, its rows, and the one connection both sides share.

:class:`~looqta.files.queue.FileQueue` (tasks, files, batches) and
:class:`~looqta.files.ownership.RunOwnership` (runs, leases, adoption) work on the same
connection, opened here in WAL mode. docs/files.md describes the tables.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from looqta.files.runs import RunRow

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

PENDING, PROCESSING, DONE, FAILED = "pending", "processing", "done", "failed"
TASK_STATUSES: tuple[str, ...] = (PENDING, PROCESSING, DONE, FAILED)
#: A file's states: waiting for its download, in the task chain, finished either way.
DOWNLOADING = "downloading"
FILE_STATUSES: tuple[str, ...] = (DOWNLOADING, PROCESSING, DONE, FAILED)

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
    ("batches", "answered_at", "REAL"),
)
_ADDED_INDEXES = """
CREATE INDEX IF NOT EXISTS tasks_owner ON tasks(run_id, status, priority DESC, id);
CREATE INDEX IF NOT EXISTS batches_run ON batches(run_id);
CREATE INDEX IF NOT EXISTS files_status ON files(status);
"""
#: Renames since: the item's DB write was ``db_update`` (its unreachable-store reason prefix
#: ``db_unavailable``); rows left by an older release carry on under the new names.
_RENAMES = """
UPDATE tasks SET type = 'store_records' WHERE type = 'db_update';
UPDATE tasks SET reason = 'store_unavailable' || substr(reason, 15) WHERE reason LIKE 'db_unavailable:%';
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


def task_of(row: sqlite3.Row) -> Task:
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


def file_of(row: sqlite3.Row) -> FileRow:
    return FileRow(
        id=row["id"],
        batch_id=row["batch_id"],
        url=row["url"],
        kind=row["kind"],
        status=row["status"],
        record=json.loads(row["record"]),
        reason=row["reason"],
    )


def run_of(row: sqlite3.Row) -> RunRow:
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


def owned_by(column: str, run_ids: list[str], *, include_unowned: bool) -> str:
    """SQL (placeholders only, one per run id) true for rows whose ``column`` is one of ``run_ids``."""
    condition = f"{column} IN ({','.join('?' * len(run_ids))})" if run_ids else "0"
    return f"({condition} OR {column} IS NULL)" if include_unowned else condition


def connect(path: Path) -> sqlite3.Connection:
    """The queue file at ``path`` (created if need be), in WAL mode, its tables up to date."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    db.row_factory = sqlite3.Row
    try:
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if mode != "wal":
            raise RuntimeError(f"{path}: SQLite refused WAL mode (got {mode!r})")
        # NORMAL in WAL mode: a commit survives a crash of this process; a power loss may lose
        # the last commits but never corrupts the file.
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA foreign_keys=ON")
        db.executescript(_SCHEMA)
        _migrate(db)
    except BaseException:
        db.close()
        raise
    return db


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction (``BEGIN IMMEDIATE``): committed when the block ends, rolled back if
    it raises."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a queue file written by an older release up to date (once, whoever opens first)."""
    with transaction(db):
        for table, column, declaration in _ADDED_COLUMNS:
            present = {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
        for statement in filter(str.strip, (_ADDED_INDEXES + _RENAMES).split(";")):
            db.execute(statement)
