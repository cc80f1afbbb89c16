"""Documents the server refuses for good: one dead letter each, and everything else written.

The goal of issue 19: "A poison document costs one dead-letter entry and nothing else: every
other item of its batch and of later crawls is written." The refusals are the server's own
(a ``$jsonSchema`` validator, a unique index on another field, a document over 16 MiB).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from itemadapter import ItemAdapter
from mongo_fixtures import make_item, run, store_settings
from pymongo import AsyncMongoClient
from pymongo.errors import BulkWriteError, OperationFailure
from scrapy.utils.test import get_crawler
from test_pipeline_store import feed, spooled_rows

from looqta.pipelines.store import MongoPipeline
from looqta.store.documents import ProductDocument, to_document
from looqta.store.repository import ProductRepository

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path

    from scrapy.crawler import Crawler

T0 = datetime(2026, 1, 1, tzinfo=UTC)
#: The test's validator refuses titles longer than this; the pipeline's own checks let them through.
MAX_TITLE = 200
POISON_TITLE = "poison " * 40
#: Nobody listens there: a store that is down for the whole crawl.
DOWN_URI = "mongodb://127.0.0.1:1"


def doc(number: int, **overrides: Any) -> ProductDocument:
    return to_document(
        ItemAdapter(make_item(number, **overrides)), max_field_bytes=1000, max_document_bytes=10_000
    )


def refuse_long_titles(db: Any) -> None:
    db.create_collection(
        "offers", validator={"$jsonSchema": {"properties": {"title": {"maxLength": MAX_TITLE}}}}
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


def crawl(settings: dict[str, Any], items: list[Any]) -> Crawler:
    crawler = get_crawler(settings_dict=settings)
    crawler.stats.open_spider()
    pipeline = MongoPipeline.from_crawler(crawler)

    async def main() -> None:
        await pipeline.open_spider()
        await feed(pipeline, items)
        await pipeline.close_spider()

    run(main())
    return crawler


def stat(crawler: Crawler, name: str) -> int:
    return int(crawler.stats.get_value(f"looqta/store/{name}", 0))


def test_a_poison_document_costs_one_dead_letter_and_nothing_else(
    mongo_uri: str, mongo_db: str, db: Any, tmp_path: Path
) -> None:
    refuse_long_titles(db)
    poison = [make_item(1000, title=POISON_TITLE), make_item(2000, title=POISON_TITLE)]
    # Crawl 1: the store is down all along; the first poison document waits in the spool with 40 others.
    first = crawl(
        store_settings(DOWN_URI, mongo_db, tmp_path),
        [make_item(n) for n in range(20)] + [poison[0]] + [make_item(n) for n in range(20, 40)],
    )
    assert stat(first, "spooled") == 41
    assert spooled_rows(tmp_path / "spool") == 41
    # Crawl 2: replays the spool (the poison in the middle of its batch), then writes its own items,
    # the second poison document among them, straight to the store.
    second = crawl(
        store_settings(mongo_uri, mongo_db, tmp_path),
        [make_item(n) for n in range(100, 120)] + [poison[1]] + [make_item(n) for n in range(120, 140)],
    )
    assert stat(second, "replayed") == 41
    assert spooled_rows(tmp_path / "spool") == 0
    assert list((tmp_path / "spool").iterdir()) == []  # the spool drained
    # Crawl 3, later: written as if nothing had happened.
    third = crawl(store_settings(mongo_uri, mongo_db, tmp_path), [make_item(n) for n in range(200, 210)])

    stored = {p["source_id"] for p in db.offers.find({}, {"source_id": 1})}
    expected = {f"B{n:09d}" for n in [*range(40), *range(100, 140), *range(200, 210)]}
    assert stored == expected
    letters = list(db.dead_letters.find())
    assert sorted(letter["source_id"] for letter in letters) == ["B000001000", "B000002000"]
    for letter in letters:
        assert (letter["reason"], letter["code"], letter["collection"]) == ("validation", 121, "offers")
        assert letter["document"]["title"] == POISON_TITLE
        assert letter["job"] == "bulk"
        assert letter["at"] is not None
    assert (stat(second, "dead_letters"), stat(second, "dead_letters/validation")) == (2, 2)
    assert stat(second, "written") == 80
    assert (stat(third, "written"), stat(third, "dead_letters"), stat(third, "outages")) == (10, 0, 0)
    assert db.price_history.count_documents({}) == 90


def test_a_batch_sent_again_leaves_one_dead_letter_per_refused_document(
    mongo_uri: str, mongo_db: str, db: Any
) -> None:
    refuse_long_titles(db)
    batch = [doc(1), doc(2, title=POISON_TITLE), doc(3)]

    async def work(repo: ProductRepository) -> list[Any]:
        return [await repo.write(batch, "c1", T0), await repo.write(batch, "c2", T0)]

    first, again = with_repository(mongo_uri, mongo_db, work)
    assert (first.written, len(first.refused), first.dead_letters) == (2, 1, 1)
    assert (again.written, len(again.refused), again.dead_letters) == (2, 1, 0)
    assert db.dead_letters.count_documents({}) == 1
    assert db.offers.count_documents({}) == 2


def test_a_duplicate_on_another_index_is_refused_and_the_rest_written(
    mongo_uri: str, mongo_db: str, db: Any
) -> None:
    db.offers.create_index("url", unique=True, name="url_unique")
    same_url = "http://127.0.0.1/dp/shared"
    batch = [doc(1, url=same_url), doc(2, url=same_url), doc(3)]
    summary = with_repository(mongo_uri, mongo_db, lambda repo: repo.write(batch, "c1", T0))
    assert summary.written == 2
    [refusal] = summary.refused
    assert (refusal.reason, refusal.code) == ("duplicate_key", 11000)
    [letter] = db.dead_letters.find()
    assert letter["reason"] == "duplicate_key"
    assert "url_unique" in letter["message"]
    assert db.offers.count_documents({}) == 2


def test_a_document_over_16_mib_is_dead_lettered_without_its_body_and_the_rest_written(
    mongo_uri: str, mongo_db: str, db: Any
) -> None:
    big = doc(2)
    huge = ProductDocument(big.source, big.source_id, {**big.fields, "title": "x" * (17 * 1024 * 1024)})
    summary = with_repository(mongo_uri, mongo_db, lambda repo: repo.write([doc(1), huge, doc(3)], "c1", T0))
    assert summary.written == 2
    assert [r.reason for r in summary.refused] == ["too_large"]
    [letter] = db.dead_letters.find()
    assert (letter["source_id"], letter["reason"], letter["document"]) == ("B000000002", "too_large", None)
    assert letter["document_bytes"] > 16 * 1024 * 1024
    assert sorted(p["source_id"] for p in db.offers.find()) == ["B000000001", "B000000003"]


class InterruptedProducts:
    """The real collection, whose bulk writes fail as a server shutting down answers."""

    def __init__(self, real: Any) -> None:
        self.real = real

    async def bulk_write(self, operations: list[Any], ordered: bool) -> Any:
        error = {"index": 0, "code": 11600, "errmsg": "interrupted at shutdown"}
        raise BulkWriteError({"writeErrors": [error], "nUpserted": 0, "nMatched": 0})


def test_a_write_error_that_means_not_now_is_not_dead_lettered(
    mongo_uri: str, mongo_db: str, db: Any
) -> None:
    async def work(repo: ProductRepository) -> None:
        repo.offers = InterruptedProducts(repo.offers)  # type: ignore[assignment]
        await repo.write([doc(1), doc(2)], "c1", T0)

    with pytest.raises(BulkWriteError):  # the writer spools the batch and retries it
        with_repository(mongo_uri, mongo_db, work)
    assert db.dead_letters.count_documents({}) == 0


class SplittingProducts:
    """The real collection, except that a bulk write of many refuses the whole command (as a server
    may for one bad document), and a write of B000000002 alone is refused as too large."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.sizes: list[int] = []

    async def bulk_write(self, operations: list[Any], ordered: bool) -> Any:
        self.sizes.append(len(operations))
        if len(operations) > 1:
            raise OperationFailure("Document failed validation", code=121)
        if operations[0]._filter["source_id"] == "B000000002":
            raise OperationFailure("object to insert too large", code=10334)
        return await self.real.bulk_write(operations, ordered=ordered)

    def find(self, *args: Any, **kwargs: Any) -> Any:
        return self.real.find(*args, **kwargs)


def test_a_whole_command_refused_for_its_content_is_split_to_find_the_document(
    mongo_uri: str, mongo_db: str, db: Any
) -> None:
    async def work(repo: ProductRepository) -> Any:
        splitting = SplittingProducts(repo.offers)
        repo.offers = splitting  # type: ignore[assignment]
        return await repo.write([doc(1), doc(2), doc(3)], "c1", T0), splitting.sizes

    summary, sizes = with_repository(mongo_uri, mongo_db, work)
    assert sizes == [3, 1, 1, 1]
    assert summary.written == 2
    assert [(r.operation.source_id, r.reason, r.code) for r in summary.refused] == [
        ("B000000002", "too_large", 10334)
    ]
    assert db.dead_letters.count_documents({}) == 1
    assert sorted(p["source_id"] for p in db.offers.find()) == ["B000000001", "B000000003"]
