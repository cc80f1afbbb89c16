"""The file pool's DB update into the store, against the session's MongoDB-wire test server.

The updater called directly (as a worker calls it), then through a real worker process, and
the pipeline's wiring: which updater by default, what rides along with a batch.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from bson.decimal128 import Decimal128
from itemadapter import ItemAdapter
from mongo_fixtures import make_item, run, store_settings
from scrapy.utils.test import get_crawler

from looqta.files.checks import FileRejected
from looqta.files.config import DbTarget, FilesConfig
from looqta.files.queue import DB_UNAVAILABLE, DONE, FAILED
from looqta.files.service import FileService
from looqta.files.work import DbUnavailable, DbUpdate
from looqta.pipelines.files import FilesPipeline, db_updater_from_settings, store_pipeline_enabled
from looqta.pipelines.store import MongoPipeline
from looqta.store import files_update
from looqta.store.config import StoreConfig
from looqta.store.files_update import UPDATER, carried_document, update_product_files

if TYPE_CHECKING:
    from pathlib import Path

    from looqta.files.queue import Task
    from looqta.items import ProductItem

STORE = "looqta.pipelines.store.MongoPipeline"
FILES = "looqta.pipelines.files.FilesPipeline"


def records(name: str, status: str = DONE) -> list[dict[str, Any]]:
    return [
        {"url": f"http://h/{name}.png", "path": "ab/x.png", "size": 10, "status": status, "reason": None},
        {"url": f"http://h/{name}.pdf", "text_excerpt": "Apple", "stored": {"path": "file:///s/x.pdf"}},
    ]


def store_items(settings: dict[str, Any], items: list[ProductItem]) -> None:
    """Write ``items`` the way a crawl does: through the store pipeline."""
    crawler = get_crawler(settings_dict=settings)
    crawler.stats.open_spider()
    pipeline = MongoPipeline.from_crawler(crawler)

    async def main() -> None:
        await pipeline.open_spider()
        for item in items:
            await pipeline.process_item(item)
        await pipeline.close_spider()

    run(main())


@pytest.fixture
def settings(mongo_uri: str, mongo_db: str, tmp_path: Path) -> dict[str, Any]:
    return store_settings(mongo_uri, mongo_db, tmp_path)


@pytest.fixture
def target(mongo_uri: str, mongo_db: str) -> DbTarget:
    return DbTarget(mongo_uri, mongo_db, connect_timeout_seconds=2.0, write_timeout_seconds=10.0)


def update_for(
    item: ProductItem, files: list[dict[str, Any]], target: DbTarget, *, carry: bool = True
) -> DbUpdate:
    adapter = ItemAdapter(item)
    carried = carried_document(adapter, StoreConfig()) if carry else None
    return DbUpdate(f"{adapter['source']}:{adapter['source_id']}", files, carried, target)


def without(document: dict[str, Any], *names: str) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key not in ("_id", *names)}


# the updater, called as a worker calls it -------------------------------------------------------


def test_the_records_are_set_on_the_stored_product_and_nothing_else_changes(
    settings: dict[str, Any], target: DbTarget, db: Any
) -> None:
    item = make_item(1)
    store_items(settings, [item])
    before = db.products.find_one({"source_id": "B000000001"})
    assert before["files"] == []

    assert update_product_files(update_for(item, records("one"), target)) == {"action": "updated"}
    after = db.products.find_one({"source_id": "B000000001"})
    assert after["files"] == records("one")
    assert without(after, "files") == without(before, "files")
    assert update_product_files(update_for(item, records("one"), target)) == {"action": "unchanged"}
    assert db.price_history.count_documents({}) == 1
    # a batch queued before items were carried: found by its key alone
    assert update_product_files(update_for(item, records("two"), target, carry=False)) == {
        "action": "updated"
    }
    assert db.products.find_one({"source_id": "B000000001"})["files"] == records("two")


def test_a_product_the_store_never_saw_is_written_as_the_store_writes_it(
    settings: dict[str, Any], target: DbTarget, db: Any
) -> None:
    lost = make_item(2)  # its crawl died while it waited for its files
    assert update_product_files(update_for(lost, records("two"), target)) == {"action": "inserted"}
    written = db.products.find_one({"source_id": "B000000002"})
    assert written["files"] == records("two")
    assert written["price"] == Decimal128(Decimal("10.02"))
    assert written["seen_at"] == datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert written["title_words"] == ["apple", "iphone", "13", "2"]
    [history] = db.price_history.find({"source_id": "B000000002"})
    assert (history["price"], history["seen_at"]) == (written["price"], written["seen_at"])

    store_items(settings, [make_item(3)])  # a product the store wrote itself has the same fields
    assert set(db.products.find_one({"source_id": "B000000003"})) == set(written)
    indexes = db.products.index_information()
    assert indexes["product_key"]["unique"]

    lost.files = records("two")
    store_items(settings, [lost])  # the next crawl finds it again, same price
    again = db.products.find_one({"source_id": "B000000002"})
    assert (again["files"], again["created_at"]) == (records("two"), written["created_at"])
    assert db.price_history.count_documents({"source_id": "B000000002"}) == 1
    assert db.products.count_documents({"source_id": "B000000002"}) == 1


def test_a_first_price_lost_to_a_crash_is_recorded_by_the_retry(target: DbTarget, db: Any) -> None:
    item = make_item(4)
    update_product_files(update_for(item, records("four"), target))
    db.price_history.delete_many({})  # the worker died between the product and its first price
    assert update_product_files(update_for(item, records("four"), target)) == {"action": "unchanged"}
    assert db.price_history.count_documents({"source_id": "B000000004"}) == 1


def test_records_of_an_older_sighting_do_not_replace_those_of_a_newer_one(
    settings: dict[str, Any], target: DbTarget, db: Any
) -> None:
    newer = make_item(5, scraped_at="2026-03-01T00:00:00+00:00")
    newer.files = records("newer")
    store_items(settings, [newer])
    older = make_item(5, scraped_at="2026-02-01T00:00:00+00:00")  # a task resumed from an old crawl
    assert update_product_files(update_for(older, records("older"), target)) == {"action": "kept_newer"}
    assert db.products.find_one({"source_id": "B000000005"})["files"] == records("newer")


def test_without_the_product_or_a_carried_document_nothing_is_written(target: DbTarget, db: Any) -> None:
    update = update_for(make_item(6), records("six"), target, carry=False)
    assert update_product_files(update) == {"action": "missing"}
    assert db.products.count_documents({}) == 0


def test_records_the_store_would_refuse_fail_for_good(target: DbTarget, db: Any) -> None:
    bad = [{"url": "http://h/x.pdf", "text_excerpt": "nul\x00inside"}]
    with pytest.raises(FileRejected, match="bad_value_files") as raised:
        update_product_files(update_for(make_item(7), bad, target))
    assert raised.value.code == "store_rejected"
    assert db.products.count_documents({}) == 0


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_store_is_reported_as_such(target: DbTarget) -> None:
    down = replace(target, uri=f"mongodb://127.0.0.1:{closed_port()}/", connect_timeout_seconds=0.3)
    with pytest.raises(DbUnavailable):
        update_product_files(update_for(make_item(8), records("eight"), down))


# through a worker process -----------------------------------------------------------------------


def service_config(tmp_path: Path) -> FilesConfig:
    return FilesConfig(
        directory=tmp_path / "files",
        max_workers=1,
        worker_nice=0,
        max_attempts=2,
        retry_backoff_seconds=0.05,
        db_update=UPDATER,
    )


async def run_db_update(
    config: FilesConfig, target: DbTarget, payload: dict[str, Any] | None
) -> tuple[Task, int]:
    """Start a service writing to ``target``; queue ``payload`` (if any) as a ``db_update``; the
    task it ran last, and how many DB updates the start-up gave another chance."""
    service = FileService(config)
    await service.start(db_target=target)
    try:
        if payload is not None:
            return await service.run("db_update", payload, 5), service.counters["resumed"]
        assert await service.drain(30)
        [task] = [t for t in await service.tasks() if t.type == "db_update"]
        return task, service.counters["resumed"]
    finally:
        await service.close()


def test_a_db_update_that_found_the_store_down_writes_once_the_next_run_reaches_it(
    tmp_path: Path, target: DbTarget, db: Any
) -> None:
    config = service_config(tmp_path)
    update = update_for(make_item(9), records("nine"), target)
    payload = {"item_key": update.item_key, "files": update.files, "item": update.item}
    down = replace(target, uri=f"mongodb://127.0.0.1:{closed_port()}/", connect_timeout_seconds=0.3)

    failed, _ = asyncio.run(run_db_update(config, down, payload))
    assert (failed.status, failed.attempts) == (FAILED, 2)
    assert failed.reason is not None
    assert failed.reason.startswith(f"{DB_UNAVAILABLE}: ")
    assert failed.reason.endswith(", on each of 2 attempts")
    assert db.products.count_documents({}) == 0

    done, resumed = asyncio.run(run_db_update(config, target, None))  # the next crawl, the store is back
    assert resumed == 1
    assert (done.id, done.status) == (failed.id, DONE)
    assert done.result == {"target": UPDATER, "action": "inserted"}
    assert db.products.find_one({"source_id": "B000000009"})["files"] == records("nine")


# the pipeline's wiring --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({"ITEM_PIPELINES": {FILES: 300, STORE: 800}}, UPDATER),
        ({"ITEM_PIPELINES": {FILES: 300, MongoPipeline: 800}}, UPDATER),
        ({"ITEM_PIPELINES": {FILES: 300}}, ""),
        ({"ITEM_PIPELINES": {FILES: 300, STORE: None}}, ""),
        ({"ITEM_PIPELINES": {FILES: 300, STORE: 800}, "LOOQTA_STORE_ENABLED": False}, ""),
        ({"ITEM_PIPELINES": {FILES: 300, STORE: 800}, "LOOQTA_FILES_DB_UPDATE": "queue"}, ""),
        ({"ITEM_PIPELINES": {FILES: 300, STORE: 800}, "LOOQTA_FILES_DB_UPDATE": "my.updater"}, "my.updater"),
        ({"ITEM_PIPELINES": {FILES: 300}, "LOOQTA_FILES_DB_UPDATE": "my.updater"}, "my.updater"),
    ],
)
def test_the_store_updater_is_the_default_when_the_store_pipeline_runs(
    settings: dict[str, Any], expected: str
) -> None:
    assert db_updater_from_settings(get_crawler(settings_dict=settings).settings) == expected


def test_the_project_settings_store_file_records_in_the_store() -> None:
    from scrapy.utils.project import get_project_settings

    project = get_project_settings()
    assert store_pipeline_enabled(project)
    assert db_updater_from_settings(project) == UPDATER


def test_naming_the_store_updater_with_the_store_off_fails_at_start_up(tmp_path: Path) -> None:
    settings = {
        "LOOQTA_FILES_DIR": str(tmp_path),
        "LOOQTA_FILES_DB_UPDATE": UPDATER,
        "LOOQTA_STORE_ENABLED": False,
    }

    async def build() -> None:
        FilesPipeline(get_crawler(settings_dict=settings))

    with pytest.raises(ValueError, match="LOOQTA_STORE_ENABLED is off"):
        asyncio.run(build())


def test_the_target_is_resolved_once_and_handed_to_the_workers(
    tmp_path: Path, settings: dict[str, Any], mongo_uri: str, mongo_db: str
) -> None:
    crawler = get_crawler(
        settings_dict={
            **settings,
            "ITEM_PIPELINES": {FILES: 300, STORE: 800},
            "LOOQTA_FILES_DIR": str(tmp_path / "files"),
            "LOOQTA_FILES_MAX_WORKERS": 1,
        }
    )

    async def opened() -> DbTarget | None:
        pipeline = FilesPipeline(crawler)
        await pipeline.open_spider()
        try:
            return pipeline.service.options.db_target
        finally:
            await pipeline.close_spider()

    found = asyncio.run(opened())
    assert found == DbTarget(mongo_uri, mongo_db, 0.5, 60.0)


def test_the_carried_document_is_what_the_store_would_write() -> None:
    item = make_item(10)
    carried = carried_document(ItemAdapter(item), StoreConfig())
    assert carried is not None
    assert carried["price"] == {"$numberDecimal": str(item.price)}  # exact, not a float
    document = files_update._document(carried)
    assert document is not None
    assert document.key == ("amazon", "B000000010")
    assert document.fields["seen_at"] == datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert (
        carried_document(ItemAdapter(make_item(11, price=None)), StoreConfig()) is None
    )  # refused by the store
