"""The contract between the file pool and the store: the only module both import.

The store pipeline writes an item's product first. When the item's files have ended, the files
pipeline hands their records to the store's :class:`FileResultsSink`, which applies them with a
``$set`` through the one store writer. A batch whose item is gone (adopted from a crawl that
died) is written by a file worker instead, with the function the store names in
:class:`WorkerStore`. docs/ARCHITECTURE.md draws the path.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

#: Signal sent by the files pipeline when it opens, with ``register=`` a callable taking a
#: :class:`FileResultsSink`. The store pipeline answers it; nobody answers when the store is off.
file_results_sink_wanted = object()

#: What a worker's write did: set the records, found them already set, kept a newer sighting's
#: records, or found no product to set them on (the records then stay in the file queue).
UPDATED, UNCHANGED, KEPT_NEWER, MISSING = "updated", "unchanged", "kept_newer", "missing"


@dataclass(frozen=True)
class FileResults:
    """An item's file records, for its product ``(source, source_id)`` seen at ``seen_at``."""

    source: str
    source_id: str
    records: list[dict[str, Any]]
    seen_at: datetime | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.source, self.source_id


@dataclass(frozen=True)
class WorkerStore:
    """What a file worker needs to write records itself: the store's address, and the dotted
    path of the store's function (a :class:`WorkerWrite`) that does it."""

    function: str
    uri: str
    database: str
    connect_timeout_seconds: float
    write_timeout_seconds: float


class FileResultsSink(Protocol):
    """The store's side, registered with the files pipeline."""

    async def apply(self, results: FileResults) -> None:
        """Queue ``results`` behind the item's product document in the store writer."""

    async def worker_store(self) -> WorkerStore:
        """Where and how workers write records of batches whose item is gone."""


class WorkerWrite(Protocol):
    def __call__(self, store: WorkerStore, results: FileResults) -> str:
        """Write ``results`` (blocking, in a worker process); one of the outcomes above."""


class StoreUnavailable(Exception):
    """The store cannot be reached now; the write is worth trying again in a later run."""


class RecordsRefused(ValueError):
    """The store refuses these records for good; ``reason`` is short and stat-friendly."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail

    def __reduce__(self) -> tuple[type[RecordsRefused], tuple[str, str]]:
        return type(self), (self.reason, self.detail)  # crosses the process pool intact
