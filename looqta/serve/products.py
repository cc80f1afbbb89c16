"""``GET /api/products/{id}``: a stored product's offers, each with its price history (docs/search.md).

The service reads the store with the crawl's settings (``MONGO_URI``, or the embedded server;
``ServeConfig.store``), connecting on the first request, so a service nobody asks for products
never starts a store server. 400 for a malformed id, 404 for an unknown one, 503 while the store
does not answer.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Request
from pymongo.errors import PyMongoError

from looqta.match.offers import OfferReader
from looqta.match.products import ProductStore, valid_product_id
from looqta.store.connection import connect, describe

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from fastapi import FastAPI

    from looqta.store.config import StoreConfig
    from looqta.store.connection import StoreConnection


class StoreReader:
    """The service's one connection to the store, made when first needed and closed at shutdown."""

    def __init__(self, config: StoreConfig) -> None:
        self.config = config
        self._connection: StoreConnection | None = None
        self._lock = asyncio.Lock()

    async def connection(self) -> StoreConnection:
        async with self._lock:
            if self._connection is None:
                self._connection = await connect(self.config)
            return self._connection

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.store_reader = StoreReader(app.state.config.store)
    try:
        yield
    finally:
        await app.state.store_reader.close()


router = APIRouter(lifespan=lifespan)


def plain(value: Any) -> Any:
    """A stored value as JSON: prices (``Decimal128``) as exact strings, times in ISO 8601."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if hasattr(value, "to_decimal"):
        return str(value.to_decimal())
    if isinstance(value, datetime):
        return value.isoformat()
    return value


@router.get("/api/products/{product_id}")
async def product(request: Request, product_id: str) -> dict[str, Any]:
    if not valid_product_id(product_id):
        raise HTTPException(
            400, f"malformed product id {product_id[:80]!r}: letters, digits and ._:~+=- only"
        )
    try:
        database = (await request.app.state.store_reader.connection()).repository.database
        found = await ProductStore(database).get(product_id)
        if found is None:
            raise HTTPException(404, f"no product {product_id!r} in the store")
        histories = await OfferReader(database).histories(found["offer_keys"])
    except PyMongoError as error:
        raise HTTPException(503, f"the store did not answer: {describe(error)}") from error
    offers = [{**entry, "history": histories.get(entry["key"], [])} for entry in found["offers"]]
    return plain(
        {
            "id": found["_id"],
            "title": found["title"],
            "cheapest": found["cheapest"],
            "offers": offers,
            "matches": found["matches"],
        }
    )
