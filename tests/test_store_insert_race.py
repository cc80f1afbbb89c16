"""The store's unique product key under concurrent writers: one document per (source, source_id).

Guards ``ProductRepository``'s ``product_key`` unique index and its re-sending of an upsert that
lost an insert race (``DUPLICATE_KEY_CODES``), against a real MongoDB-wire server on loopback.
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bson.decimal128 import Decimal128
from insert_race_proxy import InsertRaceProxy
from itemadapter import ItemAdapter
from mongo_fixtures import make_item, run
from pymongo import AsyncMongoClient

from looqta.store.documents import ProductDocument, to_document
from looqta.store.repository import OFFERS, ProductRepository

if TYPE_CHECKING:
    from looqta.store.repository import WriteSummary

T0 = datetime(2026, 1, 1, tzinfo=UTC)
T_RIVAL = datetime(2025, 12, 31, tzinfo=UTC)
WRITERS = 8
PRODUCTS_PER_WRITER = 200


def doc(number: int) -> ProductDocument:
    return to_document(ItemAdapter(make_item(number)), max_field_bytes=1000, max_document_bytes=10_000)


async def upsert_through(
    uri: str, database: str, batch: list[ProductDocument], change_id: str
) -> WriteSummary:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    try:
        repository = ProductRepository(client[database])
        await repository.ensure_indexes()
        return await repository.upsert(batch, change_id, T0)
    finally:
        await client.close()


def test_many_writers_upserting_the_same_new_products_leave_one_document_each(
    mongo_uri: str, mongo_db: str, db: Any
) -> None:
    """Eight writers, each with its own connection, upsert the same 200 new products (in orders of
    their own) at once: one document and one price-history entry per product, nothing refused.

    Guards: the store's one-document-per-product promise with concurrent writers. It CANNOT detect a
    missing unique index on SecantusDB: that server runs each upsert's find and insert under one
    collection lock, so with ``product_key`` not unique this test still passes (checked by making
    the index non-unique). The race itself is proven by the proxy test below.
    """
    batches = [[doc(n) for n in range(PRODUCTS_PER_WRITER)] for _ in range(WRITERS)]
    for seed, batch in enumerate(batches):
        random.Random(seed).shuffle(batch)

    async def main() -> list[WriteSummary]:
        return list(
            await asyncio.gather(
                *(upsert_through(mongo_uri, mongo_db, batch, f"c{i}") for i, batch in enumerate(batches))
            )
        )

    summaries = run(main())
    assert [summary.refused for summary in summaries] == [[]] * WRITERS
    assert sum(summary.upserted for summary in summaries) == PRODUCTS_PER_WRITER
    assert sum(summary.written for summary in summaries) == WRITERS * PRODUCTS_PER_WRITER
    assert db.offers.count_documents({}) == PRODUCTS_PER_WRITER
    assert db.price_history.count_documents({}) == PRODUCTS_PER_WRITER


def test_an_upsert_that_really_loses_an_insert_race_is_sent_again_as_an_update(
    mongo_uri: str, mongo_db: str, db: Any
) -> None:
    """A writer's batch of 20 new products, one of which another crawl inserts while the writer's
    upsert of it is on the wire (``InsertRaceProxy``: the race is made to happen for real, and the
    E11000 is the real server's own answer from its unique index, not one the proxy made up).

    Guards: the unique index ``product_key`` (without it the raced upsert inserts a second document)
    and the re-sending of an upsert refused with a ``DUPLICATE_KEY_CODES`` code (without it the
    product is reported failed and keeps the rival's price).
    """
    batch = [doc(n) for n in range(20)]
    raced = batch[7]
    rival = {
        "source": raced.source,
        "source_id": raced.source_id,
        "title": "seen by another crawl",
        "price": Decimal128("1.00"),
        "currency": "AED",
        "created_at": T_RIVAL,
    }
    key = {"source": raced.source, "source_id": raced.source_id}
    with InsertRaceProxy(mongo_uri, mongo_db, OFFERS, key=key, rival=rival) as proxy:
        summary = run(upsert_through(proxy.uri, mongo_db, batch, "c1"))

    # The server itself refused the raced upsert, on the unique index.
    (reply,) = proxy.raced_replies
    assert reply.get("writeErrors"), f"the server took the raced insert: {reply}"
    (error,) = reply["writeErrors"]
    assert (error["index"], error["code"]) == (7, 11000)
    assert "product_key" in error["errmsg"]
    assert reply["n"] == 19  # the rest of the batch was inserted
    # The writer sent it again (an update now), and nothing is lost or doubled.
    assert summary.refused == []
    assert (summary.upserted, summary.modified) == (19, 1)
    assert summary.price_changes == 20  # the raced one changed the rival's price
    assert db.offers.count_documents({}) == 20
    (stored,) = db.offers.find(key)
    assert stored["price"] == raced.fields["price"] != rival["price"]  # the writer's price
    assert stored["created_at"] == T_RIVAL  # the rival's document, updated in place
    assert db.price_history.count_documents({}) == 20
