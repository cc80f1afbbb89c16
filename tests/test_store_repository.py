from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from bson.decimal128 import Decimal128
from itemadapter import ItemAdapter
from mongo_fixtures import make_item, run
from pymongo import AsyncMongoClient
from pymongo.errors import BulkWriteError, DuplicateKeyError

from looqta.store.documents import ProductDocument, to_document
from looqta.store.repository import ProductRepository, WriteSummary

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def doc(number: int, **overrides: Any) -> ProductDocument:
    return to_document(
        ItemAdapter(make_item(number, **overrides)), max_field_bytes=1000, max_document_bytes=10_000
    )


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


def test_unique_index_refuses_a_second_document_for_a_product(mongo_uri: str, mongo_db: str, db: Any) -> None:
    with_repository(mongo_uri, mongo_db, lambda repo: repo.upsert([doc(1)], "c1", T0))
    with pytest.raises(DuplicateKeyError):
        db.offers.insert_one({"source": "amazon", "source_id": "B000000001"})
    assert any(index.get("unique") for index in db.offers.index_information().values())
    assert "product_seen_at" in db.price_history.index_information()


def test_upserts_set_created_and_updated_at_and_record_only_price_changes(
    mongo_uri: str, mongo_db: str, db: Any
) -> None:
    async def work(repo: ProductRepository) -> list[WriteSummary]:
        first = await repo.upsert([doc(n) for n in range(4)], "c1", T0)
        same = await repo.upsert(
            [doc(n, price=Decimal(10 + n / 100).quantize(Decimal("0.001"))) for n in range(4)],
            "c2",
            T0 + timedelta(hours=1),
        )
        cheaper = await repo.upsert(
            [doc(0, price=Decimal("9.00")), doc(1), doc(2, currency="SAR")], "c3", T0 + timedelta(hours=2)
        )
        return [first, same, cheaper]

    first, same, cheaper = with_repository(mongo_uri, mongo_db, work)
    assert (first.upserted, first.modified, first.price_changes) == (4, 0, 4)  # first sightings count
    assert (same.upserted, same.modified, same.price_changes) == (0, 4, 0)  # 10.00 == 10.000
    assert (cheaper.upserted, cheaper.modified, cheaper.price_changes) == (0, 3, 2)
    product = db.offers.find_one({"source_id": "B000000000"})
    assert product["created_at"] == T0
    assert product["updated_at"] == T0 + timedelta(hours=2)
    assert product["price"] == Decimal128("9.00")
    assert db.offers.count_documents({}) == 4
    history = {
        (entry["source_id"], str(entry["price"]), entry["currency"])
        for entry in db.price_history.find({}, {"_id": 0, "source_id": 1, "price": 1, "currency": 1})
    }
    assert db.price_history.count_documents({}) == 6
    assert ("B000000000", "9.00", "AED") in history
    assert ("B000000002", "10.02", "SAR") in history


def test_values_are_stored_literally(mongo_uri: str, mongo_db: str, db: Any) -> None:
    tricky = doc(1, title="$price deal {$x}", files=[{"path": "$HOME/full/a.jpg", "meta": {"note": "$y"}}])
    with_repository(mongo_uri, mongo_db, lambda repo: repo.upsert([tricky], "c1", T0))
    stored = db.offers.find_one({}, {"_id": 0, "title": 1, "files": 1})
    assert stored == {
        "title": "$price deal {$x}",
        "files": [{"path": "$HOME/full/a.jpg", "meta": {"note": "$y"}}],
    }


def test_the_last_sighting_in_a_batch_wins(mongo_uri: str, mongo_db: str, db: Any) -> None:
    summary = with_repository(
        mongo_uri,
        mongo_db,
        lambda repo: repo.upsert([doc(1, price=Decimal(5)), doc(1, price=Decimal(6))], "c1", T0),
    )
    assert summary.written == 1
    assert db.offers.find_one()["price"] == Decimal128("6")


def test_recording_a_change_twice_records_it_once(mongo_uri: str, mongo_db: str, db: Any) -> None:
    async def work(repo: ProductRepository) -> tuple[int, int]:
        await repo.upsert([doc(1), doc(2)], "c1", T0)
        return await repo.record_history("c1", T0), await repo.record_history("c1", T0)

    assert with_repository(mongo_uri, mongo_db, work) == (0, 0)  # upsert already recorded both
    assert db.price_history.count_documents({}) == 2


def test_two_writers_racing_on_new_products_leave_one_document_and_one_history_each(
    mongo_uri: str, mongo_db: str, db: Any
) -> None:
    async def main() -> list[WriteSummary]:
        clients = [AsyncMongoClient(mongo_uri, tz_aware=True) for _ in range(2)]
        try:
            repos = [ProductRepository(client[mongo_db]) for client in clients]
            await repos[0].ensure_indexes()
            batch = [doc(n) for n in range(300)]
            return list(
                await asyncio.gather(*(repo.upsert(batch, f"c{i}", T0) for i, repo in enumerate(repos)))
            )
        finally:
            for client in clients:
                await client.close()

    summaries = run(main())
    assert sum(summary.upserted for summary in summaries) == 300
    assert sum(summary.written for summary in summaries) == 600
    assert not any(summary.refused for summary in summaries)
    assert db.offers.count_documents({}) == 300
    assert db.price_history.count_documents({}) == 300


def test_search_finds_every_word_cheapest_first_and_history_is_in_time_order(
    mongo_uri: str, mongo_db: str
) -> None:
    async def work(repo: ProductRepository) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[Any]]:
        await repo.upsert(
            [
                doc(1, title="Apple iPhone 15 128GB", price=Decimal("3199")),
                doc(2, title="Apple iPhone 15 Pro", price=Decimal("4299"), source="noon"),
                doc(3, title="iPhone 15 clear case", price=Decimal("49.90")),
                doc(4, title="Samsung Galaxy S24", price=Decimal("10")),
            ],
            "c1",
            T0,
        )
        await repo.upsert(
            [doc(1, title="Apple iPhone 15 128GB", price=Decimal("2999"), scraped_at="2026-02-01T00:00:00Z")],
            "c2",
            T0,
        )
        found = await repo.search("iphone 15", limit=10)
        limited = await repo.search("IPHONE", limit=2)
        history = await repo.price_history("amazon", "B000000001")
        return found, limited, history

    found, limited, history = with_repository(mongo_uri, mongo_db, work)
    assert [(o["source"], str(o["price"])) for o in found] == [
        ("amazon", "49.90"),
        ("amazon", "2999"),
        ("noon", "4299"),
    ]
    assert [str(o["price"]) for o in limited] == ["49.90", "2999"]
    assert [(str(h["price"]), h["seen_at"].month) for h in history] == [("3199", 1), ("2999", 2)]


class RacingProducts:
    """The real collection, except that the first bulk write reports its first upsert as having lost
    an insert race (E11000), as MongoDB does when two processes insert one new product at once."""

    def __init__(self, real: Any, code: int) -> None:
        self.real = real
        self.code = code
        self.calls: list[int] = []

    async def bulk_write(self, operations: list[Any], ordered: bool) -> Any:
        self.calls.append(len(operations))
        if len(self.calls) > 1:
            return await self.real.bulk_write(operations, ordered=ordered)
        result = await self.real.bulk_write(operations[1:], ordered=ordered)
        error = {
            "index": 0,
            "code": self.code,
            "errmsg": f"E{self.code} simulated",
            "keyPattern": {"source": 1, "source_id": 1},  # the product key, as MongoDB says it
        }
        raise BulkWriteError({**result.bulk_api_result, "writeErrors": [error]})

    def find(self, *args: Any, **kwargs: Any) -> Any:
        return self.real.find(*args, **kwargs)

    async def update_many(self, *args: Any, **kwargs: Any) -> Any:
        return await self.real.update_many(*args, **kwargs)


@pytest.mark.parametrize(("code", "sent_again"), [(11000, True), (2, False)])
def test_only_an_upsert_that_lost_an_insert_race_is_sent_again(
    mongo_uri: str, mongo_db: str, db: Any, code: int, sent_again: bool
) -> None:
    async def work(repo: ProductRepository) -> tuple[WriteSummary, list[int]]:
        racing = RacingProducts(repo.offers, code)
        repo.offers = racing  # type: ignore[assignment]
        summary = await repo.upsert([doc(n) for n in range(3)], "c1", T0)
        return summary, racing.calls

    summary, calls = with_repository(mongo_uri, mongo_db, work)
    if sent_again:
        assert calls == [3, 1]
        assert (summary.upserted, summary.refused) == (3, [])
        assert db.offers.count_documents({}) == 3
    else:
        assert calls == [3]
        assert summary.upserted == 2
        assert [(r.operation.source_id, r.reason, r.message) for r in summary.refused] == [
            ("B000000000", "write_error", "E2 simulated")
        ]
