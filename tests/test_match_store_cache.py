"""The incremental matcher's reads of candidate products (issue 21): a batch's candidates read once,
products kept by revision between reads, and what another process wrote meanwhile never missed.

Two matchers with stores of their own on one database stand for two crawl processes. The matcher is
the tests' stand-in (``match_standin``: same GTIN or same folded title is one product).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import match_standin
import pytest
from bson.decimal128 import Decimal128
from mongo_fixtures import run
from pymongo import AsyncMongoClient

from looqta.match.incremental import IncrementalMatcher
from looqta.match.model import Offer
from looqta.match.offers import OfferReader
from looqta.match.products import BatchView, Candidate, CandidateCache, ProductStore, product_document

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

PHONE = "Apple iPhone 15 128GB Black"
WATCH = "Garmin Forerunner 265 Running Watch"


@pytest.fixture(autouse=True)
def standin(monkeypatch: pytest.MonkeyPatch) -> None:
    match_standin.install(monkeypatch)


def stored(site: str, source_id: str, title: str) -> dict[str, Any]:
    return {
        "source": site,
        "source_id": source_id,
        "title": title,
        "price": Decimal128("10.00"),
        "currency": "AED",
        "url": f"http://127.0.0.1/{source_id}",
        "seen_at": datetime(2026, 1, 2, tzinfo=UTC),
    }


def with_two_processes(
    mongo_uri: str,
    mongo_db: str,
    body: Callable[[Any, IncrementalMatcher, IncrementalMatcher], Awaitable[Any]],
) -> Any:
    async def main() -> Any:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
        try:
            database = client[mongo_db]
            one, two = ProductStore(database), ProductStore(database)
            await one.ensure_indexes()
            reader = OfferReader(database)
            return await body(database, IncrementalMatcher(reader, one), IncrementalMatcher(reader, two))
        finally:
            await client.close()

    return run(main())


def test_a_product_another_process_joined_is_read_again_and_the_others_are_not(
    mongo_uri: str, mongo_db: str, db: Any
) -> None:
    async def body(database: Any, a: IncrementalMatcher, b: IncrementalMatcher) -> tuple[int, int, Any]:
        await database.offers.insert_many(
            [stored("amazon", "A1", PHONE), stored("amazon", "A2", WATCH), stored("noon", "N1", PHONE)]
        )
        await database.offers.insert_many([stored("noon", "N2", PHONE), stored("noon", "N3", WATCH)])
        await a.match(["amazon:A1", "amazon:A2"])  # a keeps both products it started
        await b.match(["noon:N1"])  # b joins the phone: a's copy of it is out of date
        before = a.store.read_in_full
        summary = await a.match(["noon:N2", "noon:N3"])
        return a.store.read_in_full - before, a.store.reused, summary

    read_again, reused, summary = with_two_processes(mongo_uri, mongo_db, body)
    [phone] = list(db.products.find({"offer_keys": "amazon:A1"}))
    assert phone["offer_keys"] == ["amazon:A1", "noon:N1", "noon:N2"]
    [watch] = list(db.products.find({"offer_keys": "amazon:A2"}))
    assert watch["offer_keys"] == ["amazon:A2", "noon:N3"]
    assert (summary.joined, summary.conflicts, summary.failed) == (2, 0, 0)
    assert read_again == 1  # the phone, which b wrote; the watch came from a's own write
    assert reused >= 1


def test_a_product_deleted_and_started_again_under_its_id_is_not_taken_for_the_old_one(
    mongo_uri: str, mongo_db: str, db: Any
) -> None:
    """Both copies are at version 1: only the revision tells them apart."""

    async def body(database: Any, a: IncrementalMatcher, b: IncrementalMatcher) -> None:
        await database.offers.insert_many(
            [stored("amazon", "A1", PHONE), stored("noon", "N1", PHONE), stored("noon", "N9", PHONE)]
        )
        await a.match(["amazon:A1"])
        [old] = [doc async for doc in database.products.find()]
        assert await b.store.delete(old["_id"], old["version"])
        entry = {"key": "noon:N1", "site": "noon", "source_id": "N1", "title": PHONE, "last_change": None}
        assert await b.store.insert(
            product_document(old["_id"], [entry], [], ["title:apple iphone 15 128gb black"])
        )
        await a.match(["noon:N9"])  # must see N1's product, not its own copy of A1's

    with_two_processes(mongo_uri, mongo_db, body)
    [product] = list(db.products.find())
    assert product["offer_keys"] == ["noon:N1", "noon:N9"]
    assert product["version"] == 2


def test_a_product_another_process_started_during_a_batch_is_merged_with_the_batch_s_own(
    mongo_uri: str, mongo_db: str, db: Any
) -> None:
    """b starts the phone after a's batch read its candidates and before a starts its own: a's look
    again, made after its insert, sees b's product, and the two become one."""

    async def body(database: Any, a: IncrementalMatcher, b: IncrementalMatcher) -> None:
        await database.offers.insert_many([stored("amazon", "A1", PHONE), stored("noon", "N1", PHONE)])
        lookup = a.store.lookup

        async def late_lookup(keys: Any) -> list[Candidate]:
            found = await lookup(keys)
            if not await database.products.count_documents({}):
                await b.match(["noon:N1"])  # between a's read and a's insert
            return found

        a.store.lookup = late_lookup  # type: ignore[method-assign]
        summary = await a.match(["amazon:A1"])
        assert (summary.created, summary.merged) == (1, 1)

    with_two_processes(mongo_uri, mongo_db, body)
    [product] = list(db.products.find())
    assert product["offer_keys"] == ["amazon:A1", "noon:N1"]


def candidate(product_id: str, revision: str | None, keys: tuple[str, ...] = ("k",)) -> Candidate:
    offer = Offer(key=f"amazon:{product_id}", site="amazon", title=product_id)
    doc = {"_id": product_id, "revision": revision, "blocking_keys": list(keys)}
    return Candidate(doc, (offer,), revision, frozenset(keys))


def test_the_batch_view_tells_what_another_process_wrote_from_its_own_writes() -> None:
    view = BatchView([candidate("p1", "r1"), candidate("p2", "r2")])
    assert not view.foreign(candidate("p1", "r1"))  # as first read
    view.wrote(candidate("p1", "r1b"), candidate("p1", "r1"))  # joined here
    view.wrote(candidate("p3", "r3"), None)  # started here
    assert not view.foreign(candidate("p1", "r1b"))
    assert not view.foreign(candidate("p3", "r3"))
    assert view.foreign(candidate("p2", "r2x"))  # another process wrote it
    assert view.foreign(candidate("p4", "r4"))  # another process started it
    assert view.foreign(candidate("p2", None))  # no revision: unknown
    view.read({"k"}, [candidate("p2", "r2x")])  # a fresh read: p1 and p3 are gone
    view.wrote(candidate("p2", "r2y"), candidate("p2", "r2x"))
    assert view.foreign(candidate("p2", "r2y"))  # written here, on top of another process's write
    assert list(view.candidates({"k"})) == ["p2"]


def test_the_cache_keeps_one_revision_a_product_and_the_most_recently_used() -> None:
    cache = CandidateCache(size=2)
    for product_id in ("p1", "p2"):
        cache.put({"_id": product_id, "revision": "r", "blocking_keys": [], "offers": []})
    assert cache.get("p1", "r") is not None  # p1 used last: p2 goes first
    cache.put({"_id": "p3", "revision": "r", "blocking_keys": [], "offers": []})
    assert (cache.get("p2", "r"), len(cache)) == (None, 2)
    assert cache.get("p1", "other") is None
    assert cache.get("p1", None) is None
    cache.put({"_id": "p4", "blocking_keys": [], "offers": []})  # no revision: not kept
    assert cache.get("p4", None) is None
    assert len(cache) == 2
