"""An older store (offers in ``products``) is brought up to date when a crawl opens it: renamed once."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from itemadapter import ItemAdapter
from mongo_fixtures import make_item, run
from pymongo import ASCENDING, AsyncMongoClient

from looqta.store.documents import to_document
from looqta.store.repository import ProductRepository

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


def with_repository(uri: str, database: str, work: Callable[[ProductRepository], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
        try:
            return await work(ProductRepository(client[database]))
        finally:
            await client.close()

    return run(main())


def old_store(db: Any) -> None:
    """The layout before issue 21: offers in ``products`` with their unique offer index."""
    db.products.create_index(
        [("source", ASCENDING), ("source_id", ASCENDING)], unique=True, name="product_key"
    )
    db.products.insert_many(
        [
            {"source": "amazon", "source_id": f"B{n:09d}", "title": f"old {n}", "price": n, "currency": "AED"}
            for n in range(5)
        ]
    )
    db.price_history.insert_one({"source": "amazon", "source_id": "B000000001", "price": 1})


def test_an_old_store_is_renamed_once_and_keeps_its_offers_index_and_history(
    mongo_uri: str, mongo_db: str, db: Any
) -> None:
    old_store(db)
    assert with_repository(mongo_uri, mongo_db, ProductRepository.migrate) is True
    assert "products" not in db.list_collection_names()
    assert db.offers.count_documents({}) == 5
    assert db.offers.index_information()["product_key"]["unique"] is True
    assert db.price_history.count_documents({}) == 1
    # Opened again (indexes and all): nothing left to do, nothing lost.
    assert with_repository(mongo_uri, mongo_db, ProductRepository.migrate) is False
    with_repository(mongo_uri, mongo_db, ProductRepository.ensure_indexes)
    assert db.offers.count_documents({}) == 5


def test_a_crawl_on_an_old_store_updates_its_offers_instead_of_duplicating_them(
    mongo_uri: str, mongo_db: str, db: Any
) -> None:
    old_store(db)
    seen = to_document(
        ItemAdapter(make_item(1, price=Decimal("9.00"))), max_field_bytes=1000, max_document_bytes=10_000
    )

    async def crawl(repository: ProductRepository) -> None:
        await repository.ensure_indexes()
        await repository.upsert([seen], "c1", datetime(2026, 3, 1, tzinfo=UTC))

    with_repository(mongo_uri, mongo_db, crawl)
    assert db.offers.count_documents({}) == 5  # B000000001 updated in place, not a sixth offer
    assert db.offers.find_one({"source_id": "B000000001"})["title"] == make_item(1).title
    assert db.price_history.count_documents({"source_id": "B000000001"}) == 2


def test_a_new_store_and_a_products_collection_of_products_are_left_alone(
    mongo_uri: str, mongo_db: str, db: Any
) -> None:
    assert with_repository(mongo_uri, mongo_db, ProductRepository.migrate) is False
    db.products.insert_one({"_id": "p1", "offers": []})  # the new layout: no offer index
    assert with_repository(mongo_uri, mongo_db, ProductRepository.migrate) is False
    assert db.products.count_documents({}) == 1


def test_an_old_store_that_also_has_offers_is_refused_with_a_reason(
    mongo_uri: str, mongo_db: str, db: Any
) -> None:
    old_store(db)
    db.offers.insert_one({"source": "noon", "source_id": "N1"})
    with pytest.raises(RuntimeError, match="holds both"):
        with_repository(mongo_uri, mongo_db, ProductRepository.migrate)
    assert db.products.count_documents({}) == 5
