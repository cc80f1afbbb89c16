"""``GET /api/products/{id}`` and ``GET /api/products?offer=<site>:<source_id>``: a stored product's
offers, each with its price history (docs/search.md).

The service reads the store with the crawl's settings (``MONGO_URI``, or the embedded server;
``ServeConfig.store``), connecting on the first request, so a service nobody asks for products
never starts a store server. 400 for a malformed id or offer key, 404 for an unknown one, 503 while
the store does not answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Request
from pymongo.errors import PyMongoError

from looqta.match.offers import OfferReader
from looqta.match.products import ProductStore, valid_product_id
from looqta.store.connection import connect, describe

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from fastapi import FastAPI
    from pymongo.asynchronous.database import AsyncDatabase

    from looqta.store.config import StoreConfig
    from looqta.store.connection import StoreConnection

logger = logging.getLogger(__name__)

#: What an offer key may look like: ``<site>:<source_id>`` (a spider's name, then the site's own id).
SITE = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
SOURCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:~+=/-]{0,199}")
NEVER = datetime.min.replace(tzinfo=UTC)


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


def offer_key_problem(key: str) -> str | None:
    """Why ``key`` is not an offer key ``<site>:<source_id>``; None when it is one."""
    if not key:
        return "give the offer as ?offer=<site>:<source_id>, e.g. ?offer=amazon:B0CHX1W1XY"
    site, colon, source_id = key.partition(":")
    if not colon:
        return f"malformed offer key {key[:80]!r}: no ':' between the site and its id (<site>:<source_id>)"
    if SITE.fullmatch(site) is None:
        return f"malformed offer key {key[:80]!r}: the site must be a spider name (a-z, 0-9, _ and -)"
    if SOURCE_ID.fullmatch(source_id) is None:
        return (
            f"malformed offer key {key[:80]!r}: the site's id must be letters, digits and ._:~+=/- "
            "(up to 200), starting with a letter or digit"
        )
    return None


async def _database(request: Request) -> AsyncDatabase[dict[str, Any]]:
    return (await request.app.state.store_reader.connection()).repository.database


async def _answer(database: AsyncDatabase[dict[str, Any]], found: dict[str, Any]) -> dict[str, Any]:
    """A stored product as the API shows it: each offer with its price history, oldest first."""
    histories = await OfferReader(database).histories(found["offer_keys"])
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


def _latest(holding: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The product holding an offer; should two (a moment of a re-match), the one written last."""
    if len(holding) > 1:
        logger.warning("Offer %s is held by %d products: %s", key, len(holding), [p["_id"] for p in holding])
    return max(holding, key=lambda p: (p.get("updated_at") or NEVER, p["_id"]))


@router.get("/api/products/{product_id}")
async def product(request: Request, product_id: str) -> dict[str, Any]:
    if not valid_product_id(product_id):
        raise HTTPException(
            400, f"malformed product id {product_id[:80]!r}: letters, digits and ._:~+=- only"
        )
    try:
        database = await _database(request)
        found = await ProductStore(database).get(product_id)
        if found is None:
            raise HTTPException(404, f"no product {product_id!r} in the store")
        return await _answer(database, found)
    except PyMongoError as error:
        raise HTTPException(503, f"the store did not answer: {describe(error)}") from error


@router.get("/api/products")
async def product_of_offer(request: Request) -> dict[str, Any]:
    """The stored product holding ``?offer=<site>:<source_id>`` (a search's offer key)."""
    key = request.query_params.get("offer", "")
    if (problem := offer_key_problem(key)) is not None:
        raise HTTPException(400, problem)
    try:
        database = await _database(request)
        holding = await ProductStore(database).holding([key])
        if not holding:
            raise HTTPException(404, f"no stored product holds the offer {key!r} (not in the store yet)")
        return await _answer(database, _latest(holding, key))
    except PyMongoError as error:
        raise HTTPException(503, f"the store did not answer: {describe(error)}") from error
