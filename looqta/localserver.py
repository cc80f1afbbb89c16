"""What every server looqta starts for itself shares: one lock per data dir, and a log's tail.

The embedded store (``looqta.store.embedded``) and Redis (``looqta.redisstore.server``) each keep
a ``server.lock`` in their data directory so that one process at a time looks for, starts or
stops the server, and quote the end of the server's log when it does not come up.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

LOCK_FILE = "server.lock"
POLL_SECONDS = 0.05
LOG_TAIL_BYTES = 2000


def try_lock(data_dir: Path) -> IO[bytes] | None:
    """``server.lock`` (0600), held, or None if another process holds it; closing it releases it."""
    fd = os.open(data_dir / LOCK_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    lock = os.fdopen(fd, "ab")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return None
    return lock


@contextlib.contextmanager
def exclusive(data_dir: Path, timeout: float, error: Callable[[str], Exception]) -> Iterator[None]:
    """Hold ``server.lock`` for the block; ``error(message)`` is raised after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while (lock := try_lock(data_dir)) is None:
        if time.monotonic() > deadline:
            raise error(f"{data_dir / LOCK_FILE} stayed locked for {timeout:.0f} s by another looqta process")
        time.sleep(POLL_SECONDS)
    with lock:
        yield


def log_tail(log_path: Path) -> str:
    """``; the end of LOG:`` and its last bytes, for an error message; empty when there is none."""
    try:
        with log_path.open("rb") as log:
            log.seek(max(0, log_path.stat().st_size - LOG_TAIL_BYTES))
            tail = log.read().decode("utf-8", errors="replace").strip()
    except FileNotFoundError:
        return ""
    return f"; the end of {log_path}:\n{tail}" if tail else ""
