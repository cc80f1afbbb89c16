"""Matching as the store writes offers (``looqta.match.incremental``), through the real pipeline and store.

The matcher is the tests' STAND-IN (``match_standin``: same GTIN or same folded title), so these
tests hold what the store does with matches, not which titles match.
"""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import match_standin
import pytest
from bson.decimal128 import Decimal128
from itemadapter import ItemAdapter
from mongo_fixtures import make_item, run, store_settings
from pymongo import AsyncMongoClient, MongoClient
from scrapy.utils.test import get_crawler
from storing import crawl_in_process as crawl

from looqta.match import engine
from looqta.match.incremental import IncrementalMatcher
from looqta.match.offers import OfferReader
from looqta.match.products import Candidate, ProductStore
from looqta.pipelines.store import MongoPipeline

if TYPE_CHECKING:
    from pathlib import Path

    from mongo_fixtures import ServerProcess
    from scrapy.crawler import Crawler

PHONE = "Apple iPhone 15 128GB Black"
WATCH = "Garmin Forerunner 265 Running Watch"


@pytest.fixture(autouse=True)
def standin(monkeypatch: pytest.MonkeyPatch) -> None:
    match_standin.install(monkeypatch)


def offer(site: str, source_id: str, title: str, price: str, **more: Any) -> dict[str, Any]:
    """An item as a spider yields it (a dict: ``brand`` / ``gtin`` / ``model`` are optional fields)."""
    item = ItemAdapter(make_item(1, source=site, source_id=source_id, title=title, price=Decimal(price)))
    return {**item.asdict(), "url": f"http://127.0.0.1/{source_id}", **more}


def stat(crawler: Crawler, name: str) -> int:
    return int(crawler.stats.get_value(f"looqta/match/{name}", 0))


def product_of(db: Any, key: str) -> dict[str, Any]:
    [product] = list(db.products.find({"offer_keys": key}))
    return product


def test_the_same_product_on_two_sites_is_one_product_with_the_cheapest_marked(
    mongo_uri: str, mongo_db: str, db: Any, tmp_path: Path
) -> None:
    settings = store_settings(mongo_uri, mongo_db, tmp_path)
    amazon = crawl(settings, [offer("amazon", "A1", PHONE, "3199.00"), offer("amazon", "A2", WATCH, "1499")])
    noon = crawl(
        settings,
        [offer("noon", "N1", PHONE.upper(), "2949.00"), offer("noon", "N2", "Samsung Galaxy S24", "2599")],
    )
    assert db.offers.count_documents({}) == 4  # every offer stored, matched or not
    phone = product_of(db, "amazon:A1")
    assert phone["offer_keys"] == ["amazon:A1", "noon:N1"]
    assert phone["cheapest"]["key"] == "noon:N1"
    assert phone["cheapest"]["price"] == Decimal128("2949.00")
    assert [(m["left"], m["right"], m["rule"]) for m in phone["matches"]] == [
        ("noon:N1", "amazon:A1", "standin-title")
    ]
    assert {e["key"]: e["url"] for e in phone["offers"]} == {
        "amazon:A1": "http://127.0.0.1/A1",
        "noon:N1": "http://127.0.0.1/N1",
    }
    assert product_of(db, "amazon:A2")["offer_keys"] == ["amazon:A2"]
    assert product_of(db, "noon:N2")["offer_keys"] == ["noon:N2"]
    assert db.products.count_documents({}) == 3
    assert (stat(amazon, "created"), stat(noon, "created"), stat(noon, "joined")) == (2, 1, 1)


def test_a_price_change_updates_the_cheapest_and_keeps_the_previous_price(
    mongo_uri: str, mongo_db: str, db: Any, tmp_path: Path
) -> None:
    settings = store_settings(mongo_uri, mongo_db, tmp_path)
    crawl(settings, [offer("amazon", "A1", PHONE, "3199.00"), offer("noon", "N1", PHONE, "2949.00")])
    later = "2026-02-01T10:00:00+00:00"
    second = crawl(settings, [offer("amazon", "A1", PHONE, "2899.00", scraped_at=later)])
    phone = product_of(db, "amazon:A1")
    entries = {e["key"]: e for e in phone["offers"]}
    assert entries["amazon:A1"]["price"] == Decimal128("2899.00")
    change = entries["amazon:A1"]["last_change"]
    assert (change["previous_price"], change["price"]) == (Decimal128("3199.00"), Decimal128("2899.00"))
    assert change["changed_at"].isoformat() == later
    assert entries["noon:N1"]["last_change"] is None  # one price seen: no change yet
    assert phone["cheapest"]["key"] == "amazon:A1"
    assert stat(second, "refreshed") == 1
    assert db.products.count_documents({}) == 1


def test_the_same_gtin_joins_offers_whose_titles_differ(
    mongo_uri: str, mongo_db: str, db: Any, tmp_path: Path
) -> None:
    settings = store_settings(mongo_uri, mongo_db, tmp_path)
    crawl(settings, [offer("amazon", "A1", PHONE, "3199", gtin="0195949038488")])
    crawl(settings, [offer("noon", "N1", "iPhone 15 (128 GB) - Black", "2999", gtin="0195949038488")])
    assert product_of(db, "noon:N1")["offer_keys"] == ["amazon:A1", "noon:N1"]
    assert db.offers.find_one({"source_id": "N1"})["gtin"] == "0195949038488"


def test_a_failing_matcher_loses_no_offer_and_is_counted(
    mongo_uri: str, mongo_db: str, db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(offer: Any) -> frozenset[str]:
        raise RuntimeError("matcher broke")

    monkeypatch.setattr(engine, "blocking_keys", broken)
    settings = store_settings(mongo_uri, mongo_db, tmp_path, LOOQTA_STORE_BATCH_SIZE=2)
    crawler = crawl(settings, [offer("amazon", f"A{n}", f"{PHONE} {n}", "10") for n in range(5)])
    assert db.offers.count_documents({}) == 5
    assert db.products.count_documents({}) == 0
    assert stat(crawler, "failed") == 5
    assert crawler.stats.get_value("looqta/store/written") == 5


def test_matching_can_be_switched_off(mongo_uri: str, mongo_db: str, db: Any, tmp_path: Path) -> None:
    settings = store_settings(mongo_uri, mongo_db, tmp_path, LOOQTA_STORE_MATCH_ENABLED=False)
    crawl(settings, [offer("amazon", "A1", PHONE, "10")])
    assert db.offers.count_documents({}) == 1
    assert "products" not in db.list_collection_names()


@pytest.mark.serial  # bounds how long the event loop stalls: run alone (deploy/test.sh)
def test_a_slow_matcher_does_not_hold_up_the_event_loop(
    mongo_uri: str, mongo_db: str, db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slow_seconds = 0.3
    real = match_standin.assign

    def slow(offer: Any, candidates: Any) -> Any:
        time.sleep(slow_seconds)  # a matcher scoring many candidates
        return real(offer, candidates)

    monkeypatch.setattr(engine, "assign", slow)
    settings = store_settings(mongo_uri, mongo_db, tmp_path, LOOQTA_STORE_BATCH_SIZE=1)
    crawl(settings, [offer("amazon", "A1", PHONE, "10")])

    async def main() -> float:
        crawler = get_crawler(settings_dict=settings)
        crawler.stats.open_spider()
        pipeline = MongoPipeline.from_crawler(crawler)
        await pipeline.open_spider()
        worst, ticks = 0.0, 0
        await pipeline.process_item(offer("noon", "N1", PHONE, "9"))  # a batch: matching starts
        while db.products.count_documents({"offer_keys": "noon:N1"}) == 0 and ticks < 500:
            before = time.monotonic()
            await asyncio.sleep(0.01)
            worst, ticks = max(worst, time.monotonic() - before), ticks + 1
        await pipeline.close_spider()
        return worst

    worst = run(main())
    assert product_of(db, "noon:N1")["offer_keys"] == ["amazon:A1", "noon:N1"]
    assert worst < slow_seconds / 2, f"the event loop stalled {worst:.3f} s"


class Blind:
    """A product store that finds no candidates the first time (a batch's read or one offer's): another
    process's product not yet visible."""

    def __init__(self, store: ProductStore) -> None:
        self.store, self.blind = store, True

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def candidates(self, keys: Any) -> list[Candidate]:
        return [] if self._first() else await self.store.candidates(keys)

    async def lookup(self, keys: Any) -> list[Candidate]:
        return [] if self._first() else await self.store.lookup(keys)

    def _first(self) -> bool:
        first, self.blind = self.blind, False
        return first


@pytest.mark.parametrize("late", ["amazon:A1", "noon:N1"])
def test_two_products_started_at_once_for_one_thing_are_merged_into_the_lower_id(
    mongo_uri: str, mongo_db: str, db: Any, tmp_path: Path, late: str
) -> None:
    crawl(
        store_settings(mongo_uri, mongo_db, tmp_path, LOOQTA_STORE_MATCH_ENABLED=False),
        [offer("amazon", "A1", PHONE, "3199"), offer("noon", "N1", PHONE, "2949")],
    )
    first = "noon:N1" if late == "amazon:A1" else "amazon:A1"

    async def main() -> None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
        try:
            database = client[mongo_db]
            reader, store = OfferReader(database), ProductStore(database)
            await store.ensure_indexes()
            await IncrementalMatcher(reader, store).match([first])
            # The late offer does not see the first one's product: it starts its own, then looks again.
            await IncrementalMatcher(reader, Blind(store)).match([late])  # type: ignore[arg-type]
        finally:
            await client.close()

    run(main())
    [product] = list(db.products.find())
    assert product["offer_keys"] == ["amazon:A1", "noon:N1"]
    ids = sorted(match_standin.new_product_id(engine_offer(key)) for key in ("amazon:A1", "noon:N1"))
    assert product["_id"] == ids[0]
    assert len(product["matches"]) == 1


def engine_offer(key: str) -> Any:
    from looqta.match.model import Offer

    return Offer(key=key, site=key.split(":")[0], title=PHONE)


def test_an_offer_whose_product_id_is_taken_by_another_product_gets_one_of_its_own(
    mongo_uri: str, mongo_db: str, db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "new_product_id", lambda offer: "g-same")  # e.g. from a shared GTIN
    crawler = crawl(
        store_settings(mongo_uri, mongo_db, tmp_path),
        [offer("amazon", "A1", PHONE, "3199"), offer("amazon", "A2", WATCH, "1499")],
    )
    assert product_of(db, "amazon:A1")["_id"] == "g-same"
    assert product_of(db, "amazon:A2")["_id"].startswith("g-same~")
    assert (stat(crawler, "created"), stat(crawler, "failed")) == (2, 0)


def test_an_offer_that_stays_contended_is_left_for_the_rebuild_and_the_rest_of_its_batch_is_matched(
    mongo_uri: str, mongo_db: str, db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = ProductStore.insert

    async def refused_for_a2(self: ProductStore, doc: dict[str, Any]) -> bool:
        return False if "amazon:A2" in doc["offer_keys"] else await real(self, doc)

    monkeypatch.setattr(ProductStore, "insert", refused_for_a2)  # as if another product always held its id
    crawler = crawl(
        store_settings(mongo_uri, mongo_db, tmp_path),
        [
            offer("amazon", "A1", PHONE, "3199"),
            offer("amazon", "A2", WATCH, "1499"),
            offer("noon", "N1", PHONE, "9"),
        ],
    )
    assert db.offers.count_documents({}) == 3
    assert product_of(db, "amazon:A1")["offer_keys"] == ["amazon:A1", "noon:N1"]
    assert db.products.count_documents({"offer_keys": "amazon:A2"}) == 0
    assert (stat(crawler, "failed"), stat(crawler, "created"), stat(crawler, "joined")) == (1, 1, 1)


def test_offers_replayed_from_the_spool_are_matched_too(own_server: ServerProcess, tmp_path: Path) -> None:
    settings = store_settings(own_server.uri, "replayed", tmp_path)

    async def crawl_while_down() -> None:
        crawler = get_crawler(settings_dict=settings)
        crawler.stats.open_spider()
        pipeline = MongoPipeline.from_crawler(crawler)
        await pipeline.open_spider()
        await asyncio.to_thread(own_server.stop)
        for item in (offer("amazon", "A1", PHONE, "3199"), offer("noon", "N1", PHONE, "2949")):
            await pipeline.process_item(item)
        await pipeline.close_spider()

    run(crawl_while_down())
    own_server.start()
    later = crawl(settings, [])  # opening replays the spool, then matches what it wrote
    assert int(later.stats.get_value("looqta/store/replayed", 0)) == 2
    client: MongoClient[dict[str, Any]] = MongoClient(own_server.uri)
    try:
        [product] = list(client.replayed.products.find())
    finally:
        client.close()
    assert product["offer_keys"] == ["amazon:A1", "noon:N1"]
    assert (stat(later, "created"), stat(later, "joined")) == (1, 1)


def test_slow_matching_never_delays_the_offer_writes(
    mongo_uri: str, mongo_db: str, db: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = store_settings(mongo_uri, mongo_db, tmp_path, LOOQTA_STORE_BATCH_SIZE=1)
    crawl(settings, [offer("amazon", f"A{n}", f"{PHONE} {n}", "100") for n in range(5)])
    real = match_standin.assign

    def slow(offer: Any, candidates: Any) -> Any:
        time.sleep(0.3)
        return real(offer, candidates)

    monkeypatch.setattr(engine, "assign", slow)

    async def main() -> tuple[float, int]:
        crawler = get_crawler(settings_dict=settings)
        crawler.stats.open_spider()
        pipeline = MongoPipeline.from_crawler(crawler)
        await pipeline.open_spider()
        started = time.monotonic()
        for n in range(5):  # each joins the amazon offer of the same title: 0.3 s of matching each
            await pipeline.process_item(offer("noon", f"N{n}", f"{PHONE} {n}", "90"))
        written = time.monotonic() - started
        matched_then = db.products.count_documents({"offer_keys": {"$regex": "^noon:"}})
        await pipeline.close_spider()  # waits for the matching
        return written, matched_then

    written, matched_then = run(main())
    assert db.offers.count_documents({"source": "noon"}) == 5
    assert written < 0.75, f"the offers waited {written:.2f} s for the matcher"
    assert matched_then < 5  # matching was still running when the last offer had been written
    assert db.products.count_documents({"sites": ["amazon", "noon"]}) == 5  # and it finished
