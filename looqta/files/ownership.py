"""Which run owns what in a file queue: registration, the lease, and taking over dead runs' work.

Two crawls of one spider may share a queue: each claims its own tasks only, and a run's
leftovers are taken over (:meth:`RunOwnership.adopt`) only once that run is dead: its process
is gone, it closed, or its lease ran out (:func:`~looqta.files.runs.is_alive`). A run that
finishes a task another run took over meanwhile gets :class:`LostTask`; the other run's result
stands. The rows live in the queue's file (:mod:`looqta.files.schema`), on its connection.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from looqta.files.runs import RunIdentity, RunRow, is_alive, process_started_at
from looqta.files.schema import DONE, DOWNLOADING, FAILED, PENDING, PROCESSING, file_of, owned_by, run_of
from looqta.files.tasks import STORE_RECORDS, TASKS

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Callable

    from looqta.files.queue import FileQueue

INTERRUPTED_REASON = "interrupted: the crawl stopped before the download finished"
EXHAUSTED_REASON = "crawl_crashed: the crawl stopped while this task ran, on each of its attempts"
#: Reason prefix of a ``store_records`` whose store could not be reached on any attempt: such
#: tasks go back to ``pending`` when the next run starts.
STORE_UNAVAILABLE = "store_unavailable"
#: A run that has not renewed its lease for this long is presumed dead (hung, or on a machine
#: whose processes this one cannot see).
DEFAULT_LEASE_SECONDS = 300.0


class LostTask(LookupError):
    """This run finished a task that another run took over, having presumed this run dead."""


@dataclass(frozen=True)
class Recovery:
    """What :meth:`RunOwnership.recover` (or :meth:`RunOwnership.adopt`) took over from dead runs."""

    requeued: int  #: tasks that were ``processing`` in a dead run (``exhausted`` included)
    exhausted: int  #: of those, the ones that used all their attempts: now ``failed``
    pending: int  #: this run's pending tasks afterwards
    interrupted_files: int  #: files a dead run was still downloading: now ``failed``
    spool_paths: frozenset[str]  #: at a start: spool files pending or running tasks still need
    adopted_runs: int = 0  #: dead runs whose leftovers this run took over
    adopted_tasks: int = 0  #: their pending and processing tasks, now this run's
    retried_writes: int = 0  #: ``store_records`` failed for an unreachable store, pending again
    live_runs: frozenset[str] = frozenset()  #: ids of the other runs still alive


def _in(types: tuple[str, ...]) -> str:
    return f"type IN ({','.join('?' * len(types))})" if types else "0"


class RunOwnership:
    """This run's row in the ``runs`` table, and the work it takes over from dead runs."""

    def __init__(
        self,
        queue: FileQueue,
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        probe: Callable[[int], float | None] = process_started_at,
        identity: RunIdentity | None = None,
    ) -> None:
        self.queue = queue
        self.lease_seconds = lease_seconds
        self.probe = probe
        self.identity = identity or RunIdentity.current()

    @property
    def run_id(self) -> str:
        return self.identity.id

    def register(self) -> None:
        me, now = self.identity, self.queue.clock()
        self.queue.db.execute(
            "INSERT INTO runs (id, pid, host, process_started_at, started_at, heartbeat_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (me.id, me.pid, me.host, me.process_started_at, now, now),
        )

    def end(self) -> None:
        self.queue.db.execute(
            "UPDATE runs SET ended_at = ? WHERE id = ? AND ended_at IS NULL",
            (self.queue.clock(), self.run_id),
        )

    def heartbeat(self) -> bool:
        """Renew this run's lease. False when another run presumed this one dead and took its
        work over: the caller must :meth:`rejoin` (its own claims are lost)."""
        cursor = self.queue.db.execute(
            "UPDATE runs SET heartbeat_at = ? WHERE id = ? AND ended_at IS NULL AND adopted_by IS NULL",
            (self.queue.clock(), self.run_id),
        )
        return cursor.rowcount == 1

    def rejoin(self) -> str:
        """Register again under a new run id (after :meth:`heartbeat` returned False); the new id."""
        self.identity = self.identity.renewed()
        self.register()
        return self.run_id

    def runs(self) -> list[RunRow]:
        return [run_of(row) for row in self.queue.db.execute("SELECT * FROM runs ORDER BY started_at, id")]

    def _alive(self, run: RunRow, now: float) -> bool:
        if run.id == self.run_id:
            return True
        return is_alive(
            run, host=self.identity.host, now=now, lease_seconds=self.lease_seconds, probe=self.probe
        )

    # taking over what dead runs left -----------------------------------------------------------

    def recover(self, max_attempts: int) -> Recovery:
        """At start: take over what dead runs left (:meth:`adopt`), including rows written before
        runs were recorded, and give ``store_records`` tasks that failed because the store was
        unreachable another set of attempts. The result names the spool files that pending and
        running tasks (of any run) still need."""
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
        queue = self.queue
        now = queue.clock()
        with queue.transaction() as db:
            others = [
                run_of(row)
                for row in db.execute(
                    "SELECT * FROM runs WHERE id != ? AND adopted_by IS NULL", (self.run_id,)
                )
            ]
            dead = [run.id for run in others if not self._alive(run, now)]
            tasks: list[sqlite3.Row] = []
            requeued = exhausted = interrupted = retried = 0
            spools: frozenset[str] = frozenset()
            if dead or at_start:  # rows from before runs were recorded have no owner: taken at a start
                tasks = self._owned_tasks(dead, include_unowned=at_start)
                requeued, exhausted = self._take_over(tasks, max_attempts, now)
                interrupted = self._interrupt_downloads(dead, include_unowned=at_start, now=now)
                self._close_unanswered(dead, include_unowned=at_start, now=now)
                db.executemany(
                    "UPDATE runs SET adopted_by = ?, ended_at = COALESCE(ended_at, ?) WHERE id = ?",
                    [(self.run_id, now, run_id) for run_id in dead],
                )
            if at_start:
                retried = self._retry_unreachable_writes(now)
                spools = self._spool_paths()
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
            retried_writes=retried,
            live_runs=frozenset(run.id for run in others if run.id not in dead),
        )

    def _owned_tasks(self, run_ids: list[str], *, include_unowned: bool) -> list[sqlite3.Row]:
        """The pending and processing tasks of ``run_ids`` (and of no run)."""
        owned = owned_by("run_id", run_ids, include_unowned=include_unowned)
        select = (
            "SELECT id, status, attempts, file_id FROM tasks"  # noqa: S608 - placeholders only
            f" WHERE status IN (?, ?) AND {owned}"
        )
        return self.queue.db.execute(select, (PENDING, PROCESSING, *run_ids)).fetchall()

    def _take_over(self, tasks: list[sqlite3.Row], max_attempts: int, now: float) -> tuple[int, int]:
        """Make a dead run's pending and processing ``tasks`` this run's; processing ones go back
        to pending, or end ``failed`` when they used every attempt. ``(requeued, exhausted)``."""
        queue = self.queue
        queue.db.executemany(
            "UPDATE tasks SET run_id = ? WHERE id = ?", [(self.run_id, row["id"]) for row in tasks]
        )
        running = [row for row in tasks if row["status"] == PROCESSING]
        stuck = [row for row in running if row["attempts"] >= max_attempts]
        for row in stuck:
            record = None
            if row["file_id"] is not None:
                failed = {"status": FAILED, "reason": EXHAUSTED_REASON}
                record = {**queue.get_file(row["file_id"]).record, **failed}
            queue.finish(row["id"], FAILED, None, EXHAUSTED_REASON, record, None, now)
        requeue = [(PENDING, now, row["id"]) for row in running if row["attempts"] < max_attempts]
        queue.db.executemany("UPDATE tasks SET status = ?, updated_at = ? WHERE id = ?", requeue)
        return len(requeue), len(stuck)

    def _interrupt_downloads(self, run_ids: list[str], *, include_unowned: bool, now: float) -> int:
        """Files the batches of ``run_ids`` were still downloading end ``failed``: no body will
        come. Their batch's ``store_records`` is added when that was its last open file."""
        owned = owned_by("batches.run_id", run_ids, include_unowned=include_unowned)
        select = (
            "SELECT files.* FROM files JOIN batches ON batches.id = files.batch_id"  # noqa: S608 - placeholders only
            f" WHERE files.status = ? AND {owned}"
        )
        rows = self.queue.db.execute(select, (DOWNLOADING, *run_ids)).fetchall()
        for file_row in map(file_of, rows):
            record = {**file_row.record, "status": FAILED, "reason": INTERRUPTED_REASON}
            self.queue.update_file(file_row.id, FAILED, record, INTERRUPTED_REASON, now)
        return len(rows)

    def _close_unanswered(self, run_ids: list[str], *, include_unowned: bool, now: float) -> int:
        """Batches of ``run_ids`` whose files all ended but whose item never took the records
        (its run died first) get their ``store_records``; how many."""
        owned = owned_by("batches.run_id", run_ids, include_unowned=include_unowned)
        select = (
            "SELECT * FROM batches WHERE answered_at IS NULL AND "  # noqa: S608 - placeholders only
            f"{owned} AND NOT EXISTS (SELECT 1 FROM files WHERE files.batch_id = batches.id"
            " AND files.status NOT IN (?, ?)) AND NOT EXISTS (SELECT 1 FROM tasks"
            " WHERE tasks.batch_id = batches.id AND tasks.type = ?)"
        )
        batches = self.queue.db.execute(select, (*run_ids, DONE, FAILED, STORE_RECORDS)).fetchall()
        for batch in batches:
            self.queue.add_store_write(batch, now)
        return len(batches)

    def _retry_unreachable_writes(self, now: float) -> int:
        """Tasks that failed because the store was unreachable: pending again, with a fresh set of
        attempts, owned by this run."""
        types = tuple(name for name, task in TASKS.items() if task.retried_next_run)
        return self.queue.db.execute(
            "UPDATE tasks SET status = ?, attempts = 0, not_before = ?, updated_at = ?, finished_at = NULL,"  # noqa: S608 - placeholders only
            f" run_id = ? WHERE {_in(types)} AND status = ? AND reason LIKE ?",
            (PENDING, now, now, self.run_id, *types, FAILED, f"{STORE_UNAVAILABLE}:%"),
        ).rowcount

    def _spool_paths(self) -> frozenset[str]:
        """The spool files that pending and running tasks (of any run) still need."""
        types = tuple(name for name, task in TASKS.items() if task.spooled)
        rows = self.queue.db.execute(
            f"SELECT payload FROM tasks WHERE {_in(types)} AND status IN (?, ?)",  # noqa: S608 - placeholders only
            (*types, PENDING, PROCESSING),
        )
        return frozenset(json.loads(row["payload"])["spool"] for row in rows)
