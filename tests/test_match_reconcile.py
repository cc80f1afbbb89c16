"""The reconciler (``looqta.match.reconcile``): products matched one offer at a time are regrouped as
the rebuild would, on the real store server and with the real engine."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from bson.decimal128 import Decimal128
from mongo_fixtures import async_wait_for, make_item, run, store_settings
from pymongo import AsyncMongoClient
from scrapy.utils.test import get_crawler
from storing import crawl_in_process as crawl

from looqta.match import engine
from looqta.match.offers import entry, to_offer
from looqta.match.products import ProductStore, product_document
from looqta.match.rebuild import wanted_products
from looqta.match.reconcile import Reconciler, due, kept_ids
from looqta.pipelines.store import MongoPipeline
from looqta.sandbox.catalogue import Catalogue

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from pathlib import Path


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


# --- through the store pipeline ---------------------------------------------------------------------


def world_items(per_site: int) -> list[Any]:
    """The sandbox world's first listings of amazon, then noon's (one site crawled after the other)."""
    return [
        make_item(
            1,
            source=site,
            source_id=p.source_id,
            title=p.title,
            price=p.price,
            url=f"http://127.0.0.1/{p.source_id}",
        )
        for site in ("amazon", "noon")
        for p in Catalogue(site, per_site, 1234).products
    ]


@pytest.mark.parametrize("reconcile", [True, False])
def test_after_a_crawl_its_products_are_the_rebuilds_grouping(
    mongo_uri: str, mongo_db: str, db: Any, tmp_path: Path, reconcile: bool
) -> None:
    items = world_items(250)
    settings = store_settings(
        mongo_uri,
        mongo_db,
        tmp_path,
        LOOQTA_STORE_MATCH_RECONCILE_ENABLED=reconcile,
        LOOQTA_STORE_BATCH_SIZE=100,
    )
    crawler = crawl(settings, items)
    stored = {e["key"]: e for doc in db.products.find({}) for e in doc["offers"]}
    assert len(stored) == len(items)  # every offer in exactly one product
    assert sum(len(doc["offer_keys"]) for doc in db.products.find({})) == len(items)
    rebuild = sorted(sorted(doc["offer_keys"]) for doc in wanted_products(stored).values())
    if reconcile:
        assert groups(db) == rebuild
        assert crawler.stats.get_value("looqta/match/reconcile/runs", 0) >= 1
        assert crawler.stats.get_value("looqta/match/reconcile/skipped", 0) == 0
    else:  # one at a time, one site after the other: not the rebuild's answer (what the reconciler is for)
        assert groups(db) != rebuild
        assert crawler.stats.get_value("looqta/match/reconcile/runs") is None


def title_item(site: str, source_id: str, title: str) -> Any:
    return make_item(1, source=site, source_id=source_id, title=title, url=f"http://127.0.0.1/{source_id}")


def test_an_offer_clearly_better_for_a_product_takes_the_place_of_its_sites_weaker_offer(
    mongo_uri: str, mongo_db: str, db: Any, tmp_path: Path
) -> None:
    settings = store_settings(mongo_uri, mongo_db, tmp_path, LOOQTA_STORE_MATCH_RECONCILE_ENABLED=False)
    crawl(
        settings,
        [
            title_item("noon", "N1", "Apple iPhone 15 Pro 256GB Natural Titanium Hexa"),
            title_item("amazon", "WEAK", "Apple iPhone 15 Pro 256GB Natural Titanium Zebra"),  # scores 0.865
        ],
    )
    assert groups(db) == [["amazon:WEAK", "noon:N1"]]
    before = db.products.find_one({"offer_keys": "noon:N1"})["_id"]
    crawler = crawl(
        settings, [title_item("amazon", "STRONG", "Apple iPhone 15 Pro (256 GB) Natural Titanium Hexa")]
    )
    assert groups(db) == [["amazon:STRONG", "noon:N1"], ["amazon:WEAK"]]
    product = db.products.find_one({"offer_keys": "noon:N1"})
    assert product["_id"] == before
    assert [(m["left"], m["right"]) for m in product["matches"]] == [("amazon:STRONG", "noon:N1")]
    assert (
        crawler.stats.get_value("looqta/match/detached"),
        crawler.stats.get_value("looqta/match/joined"),
    ) == (1, 1)


def test_the_reconciler_runs_while_the_crawl_goes_on_once_its_interval_has_passed(
    mongo_uri: str, mongo_db: str, db: Any, tmp_path: Path
) -> None:
    settings = store_settings(mongo_uri, mongo_db, tmp_path, LOOQTA_STORE_MATCH_RECONCILE_SECONDS=0.5)

    async def main() -> list[int]:
        crawler = get_crawler(settings_dict=settings)
        crawler.stats.open_spider()
        pipeline = MongoPipeline.from_crawler(crawler)
        await pipeline.open_spider()

        def runs() -> int:
            return int(crawler.stats.get_value("looqta/match/reconcile/runs", 0))

        seen = []
        for n, item in enumerate(world_items(20)):
            await pipeline.process_item(item)
            if n in (5, 25):  # two bursts; the store flushes each within 0.1 s
                before = runs()
                await async_wait_for(lambda before=before: runs() > before, timeout=20)
                seen.append(before)
        await pipeline.close_spider()
        return [*seen, runs()]

    first, second, at_close = run(main())
    # It ran after each burst (the waits above) without waiting for the close.
    assert first == 0
    assert second >= 1
    assert at_close > second


def test_regrouped_products_keep_the_ids_of_the_products_holding_most_of_their_offers() -> None:
    def doc(product_id: str, *keys: str) -> dict[str, Any]:
        return {"_id": product_id, "offer_keys": list(keys)}

    existing = {"o-old": doc("o-old", "a:1", "b:1", "b:2"), "o-two": doc("o-two", "a:2")}
    wanted = {
        "o-x": doc("o-x", "a:1", "b:1"),  # most of o-old: keeps that id
        "o-y": doc("o-y", "b:2"),  # was in o-old too, which the larger group took: its own id
        "o-two": doc("o-two", "a:2", "a:9"),
        "o-old": doc("o-old", "c:1"),  # a new group whose own id an existing product keeps
    }
    kept = kept_ids(wanted, existing)
    assert {pid: d["offer_keys"] for pid, d in kept.items()} == {
        "o-old": ["a:1", "b:1"],
        "o-y": ["b:2"],
        "o-two": ["a:2", "a:9"],
        kept_one(kept, "c:1"): ["c:1"],
    }
    assert kept_one(kept, "c:1").startswith("o-old~")
    assert all(d["_id"] == pid for pid, d in kept.items())


def kept_one(kept: dict[str, dict[str, Any]], key: str) -> str:
    [product_id] = [pid for pid, d in kept.items() if key in d["offer_keys"]]
    return product_id


def test_a_product_the_regrouping_leaves_as_it_was_is_not_written_again(
    mongo_uri: str, mongo_db: str, db: Any, tmp_path: Path
) -> None:
    settings = store_settings(mongo_uri, mongo_db, tmp_path, LOOQTA_STORE_MATCH_RECONCILE_ENABLED=False)
    crawl(settings, world_items(150))
    before = {doc["_id"]: (doc["offer_keys"], doc["version"]) for doc in db.products.find({})}
    entries = [e for doc in db.products.find({}) for e in doc["offers"]]

    async def body(store: ProductStore) -> Any:
        reconciler = Reconciler(store, interval_seconds=0, max_offers=10_000)
        reconciler.touched(entries)
        return await reconciler.run()

    summary = with_store(mongo_uri, mongo_db, body)
    after = {doc["_id"]: (doc["offer_keys"], doc["version"]) for doc in db.products.find({})}
    kept = [pid for pid, (keys, _) in before.items() if pid in after and after[pid][0] == keys]
    assert sum(len(before[pid][0]) > 1 for pid in kept) > 20  # matched products among them
    assert all(after[pid][1] == before[pid][1] for pid in kept)  # none written again
    assert summary.unchanged == len(kept)
