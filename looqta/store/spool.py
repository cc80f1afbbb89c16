"""A durable on-disk queue of documents the store could not take yet (SQLite, stdlib).

Each open :class:`Spool` owns one SQLite file in the spool directory and holds an
exclusive ``flock`` on its ``.lock`` sidecar for as long as it is open, so two
crawls running at once never replay each other's rows. A file whose lock nobody
holds was left by a crawl that ended while the store was down: the next
:meth:`Spool.open` adopts its rows (copied into its own file in one transaction,
then the orphan is deleted) so they are replayed. Writes are committed with
``synchronous=FULL``: a row that :meth:`append` returned for survives a crash.
The documents' bytes are capped (``max_bytes``): :meth:`append` stores what fits, in
order, and says how many; the writer drops the rest with an error and a stat.

Every method blocks (disk I/O): the pipeline calls them through ``asyncio.to_thread``.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sqlite3
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from looqta.store.documents import decode_operation

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import IO

    from looqta.store.documents import Operation

logger = logging.getLogger(__name__)

#: The default cap of a spool's documents (LOOQTA_STORE_SPOOL_MAX_BYTES): 1 GiB.
DEFAULT_MAX_BYTES = 1024**3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS pending_changes (
    change_id TEXT PRIMARY KEY
);
"""


class Spool:
    """One process's spool file: append documents, read them oldest first, delete once written."""

    def __init__(
        self, path: Path, lock: IO[bytes], connection: sqlite3.Connection, max_bytes: int = DEFAULT_MAX_BYTES
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._lock = lock
        self._db = connection
        self._count, self._bytes = self._totals()

    @classmethod
    def open(cls, directory: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> Spool:
        """Create this process's spool file in ``directory`` and adopt orphaned ones.

        Adopted rows are kept even beyond ``max_bytes`` (they are on disk already); new ones
        are then refused until replay makes room.
        """
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"spool-{os.getpid()}-{uuid.uuid4().hex[:8]}.sqlite3"
        lock = _lock_path(path).open("wb")
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        spool = cls(path, lock, _connect(path, create=True), max_bytes)
        adopted = spool._adopt_orphans()
        if adopted:
            logger.info("Adopted %d spooled documents left by an earlier crawl in %s", adopted, directory)
        return spool

    def __len__(self) -> int:
        return self._count

    @property
    def size_bytes(self) -> int:
        """The spooled documents' BSON bytes (the file itself is somewhat larger)."""
        return self._bytes

    def append(self, documents: Sequence[Operation], change_id: str | None = None) -> int:
        """Store ``documents`` (products and file sets) durably, oldest first, while they fit under
        ``max_bytes``; returns how many were stored (the rest are not). ``change_id`` marks a
        write whose price history is unknown."""
        rows: list[tuple[bytes]] = []
        size = self._bytes
        for doc in documents:
            data = doc.to_bson()
            if size + len(data) > self.max_bytes:
                break
            rows.append((data,))
            size += len(data)
        with self._db:
            self._db.executemany("INSERT INTO documents (document) VALUES (?)", rows)
            if change_id is not None:
                self._db.execute("INSERT OR IGNORE INTO pending_changes VALUES (?)", (change_id,))
        self._count += len(rows)
        self._bytes = size
        return len(rows)

    def head(self, limit: int) -> list[tuple[int, Operation]]:
        """The oldest ``limit`` documents, with the row ids to :meth:`delete` once written."""
        rows = self._db.execute("SELECT id, document FROM documents ORDER BY id LIMIT ?", (limit,)).fetchall()
        return [(row_id, decode_operation(data)) for row_id, data in rows]

    def delete(self, row_ids: Sequence[int], change_id: str | None = None) -> None:
        """Remove written rows; ``change_id``, the write's, is resolved in the same transaction."""
        with self._db:
            for row_id in row_ids:
                row = self._db.execute(
                    "DELETE FROM documents WHERE id = ? RETURNING LENGTH(document)", (row_id,)
                ).fetchone()
                if row is not None:
                    self._count -= 1
                    self._bytes -= row[0]
            if change_id is not None:
                self._db.execute("DELETE FROM pending_changes WHERE change_id = ?", (change_id,))

    def _totals(self) -> tuple[int, int]:
        count, size = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(document)), 0) FROM documents"
        ).fetchone()
        return int(count), int(size)

    def mark_change(self, change_id: str) -> None:
        """Remember, durably, a write whose price history may be missing until :meth:`resolve_change`."""
        with self._db:
            self._db.execute("INSERT OR IGNORE INTO pending_changes VALUES (?)", (change_id,))

    def pending_changes(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT change_id FROM pending_changes ORDER BY rowid")]

    def resolve_change(self, change_id: str) -> None:
        with self._db:
            self._db.execute("DELETE FROM pending_changes WHERE change_id = ?", (change_id,))

    def close(self) -> None:
        """Close; the file is deleted when empty, else kept (unlocked) for the next crawl to adopt."""
        empty = self._count == 0 and not self.pending_changes()
        self._db.close()
        if empty:
            _remove(self.path)
            _lock_path(self.path).unlink(missing_ok=True)
        else:
            logger.warning(
                "%d documents stay spooled in %s; the next crawl writes them to the store",
                self._count,
                self.path,
            )
        self._lock.close()

    def _adopt_orphans(self) -> int:
        adopted = 0
        for other in sorted(self.path.parent.glob("spool-*.sqlite3")):
            if other == self.path:
                continue
            lock = _lock_path(other).open("ab")
            try:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a running crawl owns it
                if not other.exists():  # adopted and removed by another crawl a moment ago
                    _lock_path(other).unlink(missing_ok=True)
                    continue
                try:
                    adopted += self._copy_from(other)
                except sqlite3.DatabaseError as error:
                    kept = other.with_name(f"{other.name}.corrupt")
                    other.rename(kept)
                    _lock_path(other).unlink(missing_ok=True)
                    logger.error(
                        "Cannot read the spool %s (%s); kept as %s, not replayed", other, error, kept
                    )
                    continue
                _remove(other)
                _lock_path(other).unlink(missing_ok=True)
            finally:
                lock.close()
        self._count, self._bytes = self._totals()
        return adopted

    def _copy_from(self, other: Path) -> int:
        source = _connect(other, create=False)
        try:
            rows = source.execute("SELECT document FROM documents ORDER BY id").fetchall()
            changes = source.execute("SELECT change_id FROM pending_changes").fetchall()
        finally:
            source.close()
        with self._db:
            self._db.executemany("INSERT INTO documents (document) VALUES (?)", rows)
            self._db.executemany("INSERT OR IGNORE INTO pending_changes VALUES (?)", changes)
        return len(rows)


def _lock_path(path: Path) -> Path:
    return path.with_suffix(".lock")


def _connect(path: Path, *, create: bool) -> sqlite3.Connection:
    mode = "rwc" if create else "rw"
    uri = f"{path.resolve().as_uri()}?mode={mode}"
    connection = sqlite3.connect(uri, uri=True, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.executescript(_SCHEMA)
    return connection


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{suffix}").unlink()
