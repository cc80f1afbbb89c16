"""The reconciler (``looqta.match.reconcile``): products matched one offer at a time are regrouped as
the rebuild would, on the real store server and with the real engine."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bson.decimal128 import Decimal128
from mongo_fixtures import run
from pymongo import AsyncMongoClient

from looqta.match import engine
from looqta.match.offers import entry, to_offer
from looqta.match.products import ProductStore, product_document
from looqta.match.reconcile import Reconciler, due

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import pytest

# Without its colour, amazon's offer matches noon's black and blue equally: the rebuild pairs it with
# neither. Matched one at a time (black first), it was paired with black.
COLOURLESS = ("amazon", "A1", "Apple iPhone 15 (128 GB)")
BLACK = ("noon", "N1", "Apple iPhone 15 128GB Black")
BLUE = ("noon", "N2", "Apple iPhone 15 128GB Blue")
WATCH_A = ("amazon", "A9", "Garmin Forerunner 265 Running Smartwatch, AMOLED, Black")
WATCH_N = ("noon", "N9", "Garmin Forerunner 265 GPS Running Smartwatch Black")


def offer_entry(site: str, source_id: str, title: str) -> dict[str, Any]:
    doc = {
        "source": site,
        "source_id": source_id,
        "title": title,
        "price": Decimal128(Decimal("2999.00")),
        "currency": "AED",
        "url": f"http://127.0.0.1/{source_id}",
        "seen_at": datetime(2026, 3, 1, tzinfo=UTC),
    }
    return entry(doc, None)


def product(product_id: str, *offers: dict[str, Any]) -> dict[str, Any]:
    keys = {key for e in offers for key in engine.blocking_keys(to_offer(e))}
    return product_document(product_id, offers, [], keys)


def with_store(mongo_uri: str, mongo_db: str, body: Callable[[ProductStore], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
        try:
            store = ProductStore(client[mongo_db])
            await store.ensure_indexes()
            return await body(store)
        finally:
            await client.close()

    return run(main())


def groups(db: Any) -> list[list[str]]:
    return sorted(doc["offer_keys"] for doc in db.products.find({}))


def test_due_waits_for_the_interval_unless_the_crawl_closes() -> None:
    assert not due(pending=False, last_run=None, now=100.0, interval_seconds=60, closing=True)
    assert due(pending=True, last_run=None, now=100.0, interval_seconds=60, closing=False)
    assert not due(pending=True, last_run=50.0, now=100.0, interval_seconds=60, closing=False)
    assert due(pending=True, last_run=40.0, now=100.0, interval_seconds=60, closing=False)
    assert due(pending=True, last_run=99.0, now=100.0, interval_seconds=60, closing=True)


def test_a_pair_made_before_its_rival_arrived_is_undone_as_the_rebuild_would(
    mongo_uri: str, mongo_db: str, db: Any
) -> None:
    colourless, black, blue = (offer_entry(*o) for o in (COLOURLESS, BLACK, BLUE))
    watch_a, watch_n = offer_entry(*WATCH_A), offer_entry(*WATCH_N)
    rebuild_answer = sorted(
        sorted(p.offers) for p in engine.group([to_offer(e) for e in (colourless, black, blue)])
    )
    assert rebuild_answer == [["amazon:A1"], ["noon:N1"], ["noon:N2"]]
    now = [0.0]

    async def body(store: ProductStore) -> list[Any]:
        assert await store.insert(product("o-first", colourless, black))
        assert await store.insert(product("o-blue", blue))
        assert await store.insert(product("o-watch", watch_a, watch_n))  # right, and under other keys
        reconciler = Reconciler(store, interval_seconds=60, max_offers=100, clock=lambda: now[0])
        assert not reconciler.due(closing=True)  # nothing touched yet
        reconciler.touched([blue])
        first = await reconciler.run()
        reconciler.touched([blue])
        now[0] = 30.0
        assert not reconciler.due()
        now[0] = 61.0
        assert reconciler.due()
        second = await reconciler.run()
        return [first, second]

    first, second = with_store(mongo_uri, mongo_db, body)
    assert groups(db) == [["amazon:A1"], ["amazon:A9", "noon:N9"], ["noon:N1"], ["noon:N2"]]
    assert first.offers == 3  # the watch's product is filed under other keys: not read
    assert first.removed + first.updated >= 1
    assert (second.created, second.updated, second.removed, second.conflicts) == (0, 0, 0, 0)
    assert second.unchanged == 3
    watch = db.products.find_one({"offer_keys": "noon:N9"})
    assert (watch["_id"], watch["version"]) == ("o-watch", 1)  # never written


def test_too_many_offers_under_the_keys_falls_back_to_narrow_keys_then_skips(
    mongo_uri: str, mongo_db: str, db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    colourless, black, blue = (offer_entry(*o) for o in (COLOURLESS, BLACK, BLUE))

    async def body(store: ProductStore) -> list[Any]:
        assert await store.insert(product("o-first", colourless, black))
        assert await store.insert(product("o-blue", blue))
        done = []
        for limit in (2, 3):
            reconciler = Reconciler(store, interval_seconds=0, max_offers=limit)
            reconciler.touched([blue])
            done.append(await reconciler.run())
        return done

    with caplog.at_level(logging.WARNING, logger="looqta.match.reconcile"):
        skipped, regrouped = with_store(mongo_uri, mongo_db, body)
    assert (skipped.skipped, skipped.offers) == (1, 0)
    assert "run `python -m looqta.match rebuild`" in caplog.text
    assert regrouped.skipped == 0
    assert groups(db) == [["amazon:A1"], ["noon:N1"], ["noon:N2"]]
