"""Who owns the work in a file queue: runs, their identity, and whether they are still alive.

One queue directory serves one spider, but two crawls of that spider may run at once (a manual
run-now during a scheduled run). Each :class:`~looqta.files.service.FileService` is a *run*: it
registers itself in the queue's ``runs`` table (a random id, its pid, host name and process start
time) and renews a lease (``heartbeat_at``) while it runs. Every batch and task it creates
carries its run id; it claims only its own tasks. A run's leftovers (tasks still ``pending`` or
``processing``, downloads cut off) are taken over by another run only once :func:`is_alive`
says the owner is gone.

:func:`is_alive` is a pure decision over a run's row, this host's name and the time; the one
reader of the outside world, the process probe, is injected (tests pass their own).
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import psutil

if TYPE_CHECKING:
    from collections.abc import Callable

#: Two readings of one process's start time differ by less than this; a pid reused by a new
#: process starts later.
PID_REUSE_TOLERANCE_SECONDS = 1.0


def process_started_at(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch); None when it is gone or a zombie."""
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return None
        return process.create_time()
    except psutil.Error:
        return None


@dataclass(frozen=True)
class RunIdentity:
    """This run, as other runs see it in the ``runs`` table."""

    id: str
    pid: int
    host: str
    process_started_at: float | None

    @classmethod
    def current(cls) -> RunIdentity:
        pid = os.getpid()
        return cls(uuid.uuid4().hex, pid, socket.gethostname(), process_started_at(pid))

    def renewed(self) -> RunIdentity:
        """The same process under a new run id (after other runs presumed this one dead)."""
        return replace(self, id=uuid.uuid4().hex)


@dataclass(frozen=True)
class RunRow:
    """A row of the ``runs`` table."""

    id: str
    pid: int
    host: str
    process_started_at: float | None
    started_at: float
    heartbeat_at: float
    ended_at: float | None
    adopted_by: str | None


def is_alive(
    run: RunRow,
    *,
    host: str,
    now: float,
    lease_seconds: float,
    probe: Callable[[int], float | None] = process_started_at,
) -> bool:
    """Whether ``run`` may still finish its own work.

    Dead: it ended (closed, or its work was taken over already); or its lease ran out (no
    heartbeat for ``lease_seconds``: a hung process, or one on another machine); or, on this
    host, its process is gone or its pid now belongs to a process that started later.
    """
    if run.ended_at is not None or run.adopted_by is not None:
        return False
    if now - run.heartbeat_at > lease_seconds:
        return False
    if run.host != host:
        return True  # another machine sharing the directory: the lease is all there is to go on
    started = probe(run.pid)
    if started is None:
        return False
    known = run.process_started_at
    return known is None or abs(started - known) <= PID_REUSE_TOLERANCE_SECONDS
