"""Replays and kills against a real server: an older sighting never overwrites a newer one, and each
price change is in the history exactly once, across a kill between the product and the history write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from bson.decimal128 import Decimal128
from itemadapter import ItemAdapter
from mongo_fixtures import make_item, run
from pymongo import AsyncMongoClient
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.test import get_crawler

from looqta.store.documents import ProductDocument, to_document
from looqta.store.repository import ProductRepository
from looqta.store.spool import Spool
from looqta.store.writer import StoreWriter

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def doc(number: int, seen: datetime, price: str) -> ProductDocument:
    item = make_item(number, scraped_at=seen.isoformat(), price=Decimal(price))
    return to_document(ItemAdapter(item), max_field_bytes=1000, max_document_bytes=10_000)


class Killed(BaseException):
    """Stands for SIGKILL at the hook: nothing after it runs in this "process"."""


def with_repository(uri: str, name: str, work: Callable[[ProductRepository], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
        try:
            repository = ProductRepository(client[name])
            await repository.ensure_indexes()
            return await work(repository)
        finally:
            await client.close()

    return run(main())


def history(db: Any, number: int) -> list[tuple[str, int]]:
    entries = db.price_history.find({"source_id": f"B{number:09d}"}).sort("seen_at", 1)
    return [(str(entry["price"]), entry["seen_at"].day) for entry in entries]


def test_an_older_sighting_replayed_after_a_newer_one_changes_nothing(
    mongo_uri: str, mongo_db: str, db: Any
) -> None:
    new, old = T0 + timedelta(days=2), T0 + timedelta(days=1)

    async def work(repo: ProductRepository) -> Any:
        first = await repo.write([doc(1, new, "5.00"), doc(2, old, "7.00")], "c1", T0)
        replayed = await repo.write([doc(1, old, "9.00"), doc(2, new, "8.00")], "c2", T0 + timedelta(hours=1))
        return first, replayed

    _first, replayed = with_repository(mongo_uri, mongo_db, work)
    assert (replayed.stale, replayed.modified, replayed.price_changes) == (1, 1, 1)
    assert replayed.written == 2
    kept = db.offers.find_one({"source_id": "B000000001"})
    assert (kept["price"], kept["seen_at"], kept["updated_at"]) == (Decimal128("5.00"), new, T0)
    assert kept["price_change_id"] == "c1"
    assert history(db, 1) == [("5.00", 3)]  # the old price is not recorded as a change
    newer = db.offers.find_one({"source_id": "B000000002"})
    assert (newer["price"], newer["seen_at"]) == (Decimal128("8.00"), new)
    assert history(db, 2) == [("7.00", 2), ("8.00", 3)]


def test_the_newest_sighting_of_a_batch_wins_whatever_its_place(
    mongo_uri: str, mongo_db: str, db: Any
) -> None:
    batch = [doc(1, T0 + timedelta(days=3), "3.00"), doc(1, T0 + timedelta(days=1), "1.00")]
    with_repository(mongo_uri, mongo_db, lambda repo: repo.write(batch, "c1", T0))
    assert db.offers.find_one()["price"] == Decimal128("3.00")


def make_writer(repo: ProductRepository, spool_dir: Path) -> tuple[StoreWriter, MemoryStatsCollector]:
    stats = MemoryStatsCollector(get_crawler())
    stats.open_spider()
    writer = StoreWriter(
        repo, Spool.open(spool_dir), stats, batch_size=10, retry_initial_seconds=1, retry_max_seconds=1
    )
    return writer, stats


def die(writer: StoreWriter) -> None:
    """What a SIGKILL leaves: the spool file as it is on disk, its lock released by the kernel."""
    writer.spool._db.close()
    writer.spool._lock.close()


def test_a_kill_between_the_product_and_the_history_write_leaves_each_change_recorded_once(
    mongo_uri: str, mongo_db: str, db: Any, tmp_path: Path
) -> None:
    """The issue's case: the batch is re-sent with a new change id after the kill, when the
    product's price no longer differs; the killed write's change must still be recorded, once."""
    batch = [doc(n, T0 + timedelta(days=1), f"{n}.50") for n in range(3)]

    async def killed_process(repo: ProductRepository) -> None:
        async def kill() -> None:
            raise Killed

        writer, _stats = make_writer(repo, tmp_path / "spool")
        await writer.start()
        for n in range(3):  # first sightings
            await writer.add(doc(n, T0, f"{n}.00"))
        await writer.flush()
        repo.between_writes = kill
        for document in batch:
            await writer.add(document)
        with pytest.raises(Killed):
            await writer.flush()
        die(writer)

    with_repository(mongo_uri, mongo_db, killed_process)
    assert db.price_history.count_documents({}) == 3  # the killed write's changes are missing so far
    assert db.offers.count_documents({"price": {"$in": [Decimal128(f"{n}.50") for n in range(3)]}}) == 3

    async def next_process(repo: ProductRepository) -> MemoryStatsCollector:
        writer, stats = make_writer(repo, tmp_path / "spool")  # adopts the dead crawl's spool
        await writer.start()  # its pending change is recorded before anything new is written
        for document in batch:  # the same batch sent again: a new change id, no price difference
            await writer.add(document)
        await writer.close()
        writer.spool.close()
        return stats

    stats = with_repository(mongo_uri, mongo_db, next_process)
    assert stats.get_value("looqta/store/price_changes") == 3
    for n in range(3):
        assert history(db, n) == [(f"{n}.00", 1), (f"{n}.50", 2)]
    assert list((tmp_path / "spool").iterdir()) == []  # nothing left pending


def test_a_kill_after_the_history_write_records_nothing_twice(
    mongo_uri: str, mongo_db: str, db: Any, tmp_path: Path
) -> None:
    async def work(repo: ProductRepository) -> int:
        await repo.write([doc(1, T0, "1.00")], "c1", T0)
        # As if killed after the history write but before the spool let go of the change:
        writer, stats = make_writer(repo, tmp_path / "spool")
        writer.spool.mark_change("c1")
        die(writer)
        writer, stats = make_writer(repo, tmp_path / "spool")
        await writer.start()
        await writer.close()
        writer.spool.close()
        return int(stats.get_value("looqta/store/price_changes", 0))

    assert with_repository(mongo_uri, mongo_db, work) == 0
    assert history(db, 1) == [("1.00", 1)]
