"""The file pool's side of the store write for items that are gone: ``store_records``.

Through a real worker process, against the session's MongoDB-wire test server, with a test-only
:class:`~looqta.records.WorkerWrite` (the store's own is tested with the store); and the
pipeline's side of the contract: the sink asked for once, nobody answering with the store off.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest
from pymongo import MongoClient
from pymongo.errors import ConnectionFailure
from scrapy.utils.test import get_crawler

from looqta.files.config import FilesConfig
from looqta.files.ownership import STORE_UNAVAILABLE
from looqta.files.queue import DONE, FAILED, FileQueue, NewTask
from looqta.files.service import FileService
from looqta.pipelines.files import FilesPipeline
from looqta.records import MISSING, UPDATED, FileResults, RecordsRefused, StoreUnavailable, WorkerStore

if TYPE_CHECKING:
    from pathlib import Path

    from looqta.files.config import WorkOptions
    from looqta.files.queue import Task


def write_to_test_db(store: WorkerStore, results: FileResults) -> str:
    """A stand-in for the store's write: ``$set`` of ``files`` on the product, if there is one."""
    if any("\x00" in str(value) for record in results.records for value in record.values()):
        raise RecordsRefused("bad_value_files", "a record holds a NUL")
    timeout_ms = int(store.connect_timeout_seconds * 1000)
    try:
        with MongoClient(
            store.uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms
        ) as client:
            before = client[store.database].offers.find_one_and_update(
                {"source": results.source, "source_id": results.source_id},
                {"$set": {"files": results.records, "files_seen_at": results.seen_at}},
            )
    except ConnectionFailure as error:
        raise StoreUnavailable(str(error)) from error
    return MISSING if before is None else UPDATED


def keep_record(payload: dict[str, Any], options: WorkOptions) -> dict[str, Any]:
    """``upload`` without a store to upload to: the record stays as it is."""
    return {}


@pytest.fixture
def worker_store(mongo_uri: str, mongo_db: str) -> WorkerStore:
    return WorkerStore(f"{__name__}.write_to_test_db", mongo_uri, mongo_db, 2.0, 10.0)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def service_config(tmp_path: Path) -> FilesConfig:
    return FilesConfig(
        directory=tmp_path / "files", max_workers=1, worker_nice=0, max_attempts=2, retry_backoff_seconds=0.05
    )


def records(name: str) -> list[dict[str, Any]]:
    return [{"url": f"http://h/{name}.png", "path": "ab/x.png", "status": DONE, "reason": None}]


def gone_item_batch(config: FilesConfig, key: str, files: list[dict[str, Any]], item: dict[str, Any]) -> None:
    """A batch whose run ended with its last file still running: the next run finishes it."""
    queue = FileQueue(config.queue_path).open()
    [file_id] = queue.add_batch(key, [(files[0]["url"], "image")], 10, item=item)
    queue.add_task(NewTask("upload", files[0], 10, file_id=file_id))
    queue.close()


async def next_run(config: FilesConfig, store: WorkerStore | None) -> tuple[list[Task], dict[str, int]]:
    """A run that resumes what the queue holds, with ``upload`` faked to leave the record as it is."""
    service = FileService(config, handlers={"upload": keep_record})
    await service.start(worker_store=store)
    try:
        assert await service.drain(30)
        return [t for t in await service.tasks() if t.type == "store_records"], dict(service.counters)
    finally:
        await service.close()


def test_a_gone_items_records_are_written_by_a_worker_with_the_stores_function(
    tmp_path: Path, worker_store: WorkerStore, db: Any
) -> None:
    db.offers.insert_one({"source": "noon", "source_id": "N1", "files": []})
    config = service_config(tmp_path)
    gone_item_batch(config, "noon:N1", records("one"), {"seen_at": "2026-01-02T03:04:05+00:00"})
    gone_item_batch(config, "noon:N2", records("two"), {"seen_at": None})  # no product: left alone

    [one, two], counters = asyncio.run(next_run(config, worker_store))
    assert (one.status, one.result) == (DONE, {"function": worker_store.function, "outcome": UPDATED})
    assert (two.status, two.result) == (DONE, {"function": worker_store.function, "outcome": MISSING})
    assert (counters["store_records/updated"], counters["store_records/missing"]) == (1, 1)
    stored = db.offers.find_one({"source_id": "N1"})
    assert stored["files"] == records("one")
    assert stored["files_seen_at"].isoformat() == "2026-01-02T03:04:05+00:00"  # the item's sighting
    assert db.offers.count_documents({}) == 1


def test_a_store_write_that_found_the_store_down_writes_once_the_next_run_reaches_it(
    tmp_path: Path, worker_store: WorkerStore, db: Any
) -> None:
    db.offers.insert_one({"source": "noon", "source_id": "N9", "files": []})
    config = service_config(tmp_path)
    gone_item_batch(config, "noon:N9", records("nine"), {"seen_at": None})
    down = replace(worker_store, uri=f"mongodb://127.0.0.1:{closed_port()}/", connect_timeout_seconds=0.3)

    [failed], _ = asyncio.run(next_run(config, down))
    assert (failed.status, failed.attempts) == (FAILED, 2)
    assert failed.reason is not None
    assert failed.reason.startswith(f"{STORE_UNAVAILABLE}: ")
    assert failed.reason.endswith(", on each of 2 attempts")
    assert db.offers.find_one({"source_id": "N9"})["files"] == []

    [done], counters = asyncio.run(next_run(config, worker_store))  # the next crawl, the store is back
    assert (done.id, done.status, done.result) == (
        failed.id,
        DONE,
        {"function": worker_store.function, "outcome": UPDATED},
    )
    assert counters["resumed"] == 1
    assert db.offers.find_one({"source_id": "N9"})["files"] == records("nine")


def test_records_the_store_refuses_fail_for_good_and_without_a_store_stay_in_the_queue(
    tmp_path: Path, worker_store: WorkerStore, db: Any
) -> None:
    config = service_config(tmp_path)
    bad = [{"url": "http://h/x.png", "text_excerpt": "nul\x00inside", "status": DONE}]
    gone_item_batch(config, "noon:N7", bad, {"seen_at": None})
    [refused], counters = asyncio.run(next_run(config, worker_store))
    assert (refused.status, refused.attempts) == (FAILED, 1)  # final: not retried
    assert refused.reason == "store_rejected: bad_value_files: a record holds a NUL"
    assert counters["failed/store_rejected"] == 1

    off = replace(config, directory=tmp_path / "off")
    gone_item_batch(off, "noon:N8", records("eight"), {"seen_at": None})
    [kept], _ = asyncio.run(next_run(off, None))  # the store is off: nothing to write to
    assert (kept.status, kept.result) == (DONE, {"outcome": "no_store"})
    assert kept.payload["files"] == records("eight")  # the records stay in the queue
    assert db.offers.count_documents({}) == 0


# the pipeline's side of the contract ------------------------------------------------------------


class Sink:
    def __init__(self, store: WorkerStore) -> None:
        self.store = store

    async def apply(self, results: FileResults) -> None:
        raise AssertionError("not in this test")

    async def worker_store(self) -> WorkerStore:
        return self.store


def opened_pipeline_options(tmp_path: Path, *sinks: Sink) -> WorkerStore | None:
    from looqta.records import file_results_sink_wanted

    crawler = get_crawler(
        settings_dict={"LOOQTA_FILES_DIR": str(tmp_path / "files"), "LOOQTA_FILES_MAX_WORKERS": 1}
    )
    for sink in sinks:
        crawler.signals.connect(
            lambda register, sink=sink: register(sink), signal=file_results_sink_wanted, weak=False
        )

    async def opened() -> WorkerStore | None:
        pipeline = FilesPipeline(crawler)
        await pipeline.open_spider()
        try:
            return pipeline.service.options.worker_store
        finally:
            await pipeline.close_spider()

    return asyncio.run(opened())


def test_the_pipeline_hands_the_stores_worker_store_to_the_workers(
    tmp_path: Path, worker_store: WorkerStore
) -> None:
    assert opened_pipeline_options(tmp_path / "on", Sink(worker_store)) == worker_store
    assert opened_pipeline_options(tmp_path / "off") is None  # nobody answers: the store is off


def test_two_stores_answering_fail_at_start_up(tmp_path: Path, worker_store: WorkerStore) -> None:
    with pytest.raises(RuntimeError, match="2 file results sinks"):
        opened_pipeline_options(tmp_path, Sink(worker_store), Sink(worker_store))


def test_the_project_settings_name_no_files_db_updater() -> None:
    from scrapy.utils.project import get_project_settings

    assert get_project_settings().get("LOOQTA_FILES_DB_UPDATE") is None
