"""A stand-in for the store's side of :mod:`looqta.records`, for the files tests' crawls.

An extension that answers ``file_results_sink_wanted`` with a sink writing each item's
:class:`~looqta.records.FileResults` as a JSON line (``by: "sink"``), and names
:func:`write_records` as the workers' write, which appends a line of its own (``by: "worker"``).
Enable it with ``EXTENSIONS = {"recording_sink.RecordingSink": 0}`` and
``LOOQTA_TEST_RESULTS_FILE``; ``tests/`` must be importable (it is for pytest and its workers).
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from looqta.records import UPDATED, FileResults, WorkerStore, file_results_sink_wanted

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from typing import Self

    from scrapy.crawler import Crawler


def _append(path: str, by: str, results: FileResults) -> None:
    line = {
        "by": by,
        "pid": os.getpid(),
        "source": results.source,
        "source_id": results.source_id,
        "records": results.records,
        "seen_at": None if results.seen_at is None else results.seen_at.isoformat(),
    }
    with open(path, "a") as log:
        log.write(json.dumps(line) + "\n")


def write_records(store: WorkerStore, results: FileResults) -> str:
    """A :class:`~looqta.records.WorkerWrite`: ``store.uri`` is the JSON-lines file."""
    _append(store.uri, "worker", results)
    return UPDATED


def read_results(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


class RecordingSink:
    def __init__(self, path: str) -> None:
        self.path = path
        self.applied: list[FileResults] = []

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        sink = cls(crawler.settings["LOOQTA_TEST_RESULTS_FILE"])
        crawler.signals.connect(sink.sink_wanted, signal=file_results_sink_wanted)
        return sink

    def sink_wanted(self, register: Callable[[RecordingSink], None]) -> None:
        register(self)

    async def apply(self, results: FileResults) -> None:
        self.applied.append(results)
        _append(self.path, "sink", results)

    async def worker_store(self) -> WorkerStore:
        return WorkerStore(f"{__name__}.write_records", self.path, "", 1.0, 1.0)
