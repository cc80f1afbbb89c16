"""File records reach the store after the product, through the one writer or a worker's write.

Against the session's MongoDB-wire test server: the store pipeline's sink (the crawl's path), the
spool round trip of file records, and :func:`write_file_records` (a worker's path, for batches
whose item is gone).
"""

from __future__ import annotations

import pickle
import socket
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from itemadapter import ItemAdapter
from mongo_fixtures import make_item, run, store_settings
from scrapy.utils.test import get_crawler

from looqta.pipelines.store import MongoPipeline
from looqta.records import (
    KEPT_NEWER,
    MISSING,
    UNCHANGED,
    UPDATED,
    FileResults,
    RecordsRefused,
    StoreUnavailable,
    WorkerStore,
    file_results_sink_wanted,
)
from looqta.store.documents import FileSet, ProductDocument, decode_operation, to_document
from looqta.store.files_update import WRITE_FUNCTION, write_file_records

if TYPE_CHECKING:
    from pathlib import Path

    from scrapy.crawler import Crawler

    from looqta.items import ProductItem
    from looqta.records import FileResultsSink


def records(name: str) -> list[dict[str, Any]]:
    return [{"url": f"http://h/{name}.png", "path": "ab/x.png", "size": 10, "status": "done", "reason": None}]


def results_of(
    item: ProductItem, files: list[dict[str, Any]], seen_at: datetime | None = None
) -> FileResults:
    adapter = ItemAdapter(item)
    return FileResults(adapter["source"], adapter["source_id"], files, seen_at)


def sink_of(crawler: Crawler) -> FileResultsSink | None:
    """Ask for the sink as the files pipeline does; None when nobody answers."""
    found: list[FileResultsSink] = []
    crawler.signals.send_catch_log(file_results_sink_wanted, register=found.append)
    return found[0] if found else None


@pytest.fixture
def settings(mongo_uri: str, mongo_db: str, tmp_path: Path) -> dict[str, Any]:
    return store_settings(mongo_uri, mongo_db, tmp_path)


def crawl(settings: dict[str, Any], steps: list[ProductItem | FileResults]) -> Crawler:
    """Items through the store pipeline, and file results through its sink, in ``steps`` order."""
    crawler = get_crawler(settings_dict=settings)
    crawler.stats.open_spider()
    pipeline = MongoPipeline.from_crawler(crawler)
    sink = sink_of(crawler)
    assert sink is not None

    async def main() -> None:
        await pipeline.open_spider()
        for step in steps:
            if isinstance(step, FileResults):
                await sink.apply(step)
            else:
                await pipeline.process_item(step)
        await pipeline.close_spider()

    run(main())
    return crawler


def test_the_store_answers_the_files_pipeline_and_nobody_answers_when_it_is_off(
    settings: dict[str, Any],
) -> None:
    crawler = get_crawler(settings_dict=settings)
    pipeline = MongoPipeline.from_crawler(crawler)
    assert sink_of(crawler) is pipeline.sink
    assert sink_of(get_crawler(settings_dict={**settings, "LOOQTA_STORE_ENABLED": False})) is None


def test_records_are_set_on_the_product_written_first_and_a_later_sighting_keeps_them(
    settings: dict[str, Any], mongo_uri: str, db: Any
) -> None:
    item = make_item(1)
    crawler = crawl(settings, [item, results_of(item, records("one"))])  # one batch: product, then files
    stored = db.offers.find_one({"source_id": "B000000001"})
    assert stored["files"] == records("one")
    assert crawler.stats.get_value("looqta/store/files_set") == 1
    assert db.price_history.count_documents({}) == 1

    crawl(settings, [make_item(1)])  # seen again, before its files were fetched again
    again = db.offers.find_one({"source_id": "B000000001"})
    assert again["files"] == records("one")
    assert again["updated_at"] > stored["updated_at"]

    expected = WorkerStore(WRITE_FUNCTION, mongo_uri, settings["MONGO_DATABASE"], 0.5, 60.0)
    assert run(worker_store_of(settings)) == expected


def worker_store_of(settings: dict[str, Any]) -> Any:
    crawler = get_crawler(settings_dict=settings)
    crawler.stats.open_spider()
    pipeline = MongoPipeline.from_crawler(crawler)

    async def main() -> WorkerStore:
        await pipeline.open_spider()
        try:
            return await pipeline.sink.worker_store()
        finally:
            await pipeline.close_spider()

    return main()


def test_records_of_an_older_sighting_do_not_replace_a_newer_ones_and_unknown_products_are_counted(
    settings: dict[str, Any], db: Any
) -> None:
    item = make_item(2)
    seen = datetime.fromisoformat(ItemAdapter(item)["scraped_at"])
    crawler = crawl(
        settings,
        [
            item,
            results_of(item, records("new"), seen),
            results_of(item, records("old"), seen - timedelta(hours=1)),
            results_of(make_item(3), records("nobody")),  # its product was never stored
        ],
    )
    assert db.offers.find_one({"source_id": "B000000002"})["files"] == records("new")
    assert db.offers.count_documents({}) == 1
    assert crawler.stats.get_value("looqta/store/files_missing") == 1


def test_records_the_store_would_refuse_are_counted_and_the_product_stays(
    settings: dict[str, Any], db: Any
) -> None:
    item = make_item(4)
    crawler = crawl(settings, [item, results_of(item, [{"$where": "x"}])])
    assert crawler.stats.get_value("looqta/store/rejected/bad_value_files") == 1
    assert "files" not in db.offers.find_one({"source_id": "B000000004"})


def test_file_records_survive_the_spool_and_keep_their_kind() -> None:
    seen = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    operation = FileSet("amazon", "B1", records("one"), seen)
    assert decode_operation(operation.to_bson()) == operation
    document = to_document(ItemAdapter(make_item(5)), max_field_bytes=10_000, max_document_bytes=1_000_000)
    decoded = decode_operation(document.to_bson())
    assert isinstance(decoded, ProductDocument)
    assert decoded == document
    assert "files" not in document.fields  # an item without records leaves the stored ones alone


# a worker's own write ---------------------------------------------------------------------------


@pytest.fixture
def worker_store(mongo_uri: str, mongo_db: str) -> WorkerStore:
    return WorkerStore(WRITE_FUNCTION, mongo_uri, mongo_db, 2.0, 10.0)


def test_a_worker_sets_records_on_the_stored_product_only(
    settings: dict[str, Any], worker_store: WorkerStore, db: Any
) -> None:
    item = make_item(6)
    crawl(settings, [item])
    before = db.offers.find_one({"source_id": "B000000006"})
    seen = before["seen_at"]
    assert write_file_records(worker_store, results_of(item, records("six"), seen)) == UPDATED
    after = db.offers.find_one({"source_id": "B000000006"})
    assert after["files"] == records("six")
    assert {k: v for k, v in after.items() if k != "files"} == before
    assert write_file_records(worker_store, results_of(item, records("six"), seen)) == UNCHANGED
    older = results_of(item, records("older"), seen - timedelta(days=1))
    assert write_file_records(worker_store, older) == KEPT_NEWER
    assert db.offers.find_one({"source_id": "B000000006"})["files"] == records("six")
    assert write_file_records(worker_store, results_of(make_item(7), records("seven"))) == MISSING
    assert db.offers.count_documents({}) == 1  # a worker never inserts a product
    assert db.price_history.count_documents({}) == 1


def test_a_worker_is_told_whether_to_try_again(worker_store: WorkerStore) -> None:
    with pytest.raises(RecordsRefused, match="store_rejected"):
        write_file_records(worker_store, results_of(make_item(8), [{"a.b": 1}]))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = WorkerStore(WRITE_FUNCTION, f"mongodb://127.0.0.1:{port}/", "x", 0.3, 1.0)
    with pytest.raises(StoreUnavailable):
        write_file_records(down, results_of(make_item(8), records("eight")))


def test_a_refusal_crosses_a_process_boundary_intact() -> None:
    refused = pickle.loads(pickle.dumps(RecordsRefused("store_rejected", "bad key")))
    assert type(refused) is RecordsRefused
    assert (refused.reason, str(refused)) == ("store_rejected", "store_rejected: bad key")
