"""Products in the search service: ``match`` events, ``GET /api/products/{id}``, one row per product.

Real parts: the store server, Redis, uvicorn, a two-site sandbox crawl (two ``scrapy crawl``
processes), Chromium. The matcher is the tests' STAND-IN (``match_standin``: same GTIN or same folded
title), so the expectations are about what the service does with products, not which titles match.
"""

from __future__ import annotations

import asyncio
import json
import threading
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
import match_standin
import pytest
from crawling import CrawlResult, run_crawl
from mongo_fixtures import store_settings
from playwright.sync_api import sync_playwright
from scrapy.settings import Settings
from serving import running_service
from storing import crawl_in_process

from looqta.browser import BrowserConfig
from looqta.match import engine
from looqta.redisstore.config import RedisConfig
from looqta.serve.config import ServeConfig
from looqta.serve.grouping import products, with_matches
from looqta.store.config import StoreConfig

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from looqta.sandbox.client import SandboxProcess

PHONE = "Apple iPhone 15 128GB Black"
QUERY = "iphone"


@pytest.fixture(autouse=True)
def standin(monkeypatch: pytest.MonkeyPatch) -> None:
    match_standin.install(monkeypatch)


#: One event of a search as the service streams it: (event, SSE id, data).
Event = tuple[str, str | None, dict[str, Any]]


def offer_event(site: str, source_id: str, title: str, price: str) -> Event:
    data = {"site": site, "source_id": source_id, "title": title, "price": price, "currency": "AED"}
    return "offer", f"1-{len(source_id)}", {**data, "url": f"http://x/{source_id}"}


def grouped(events: list[Event]) -> list[tuple[str, Any]]:
    async def source() -> AsyncIterator[Event]:
        for event in events:
            yield event

    async def main() -> list[tuple[str, Any]]:
        return [(e[0], e[2]) async for e in with_matches(source()) if e is not None]

    return asyncio.run(main())


STREAM = [
    offer_event("amazon", "A1", PHONE, "3199.00"),
    offer_event("amazon", "A2", "Garmin Forerunner 265", "1499.00"),
    offer_event("noon", "N1", PHONE.upper(), "2949.00"),
    offer_event("noon", "N2", "Samsung Galaxy S24", "2599.00"),
]


def test_an_offer_that_joins_a_product_is_followed_by_its_match_event() -> None:
    out = grouped(STREAM)
    assert [name for name, _ in out] == ["offer", "offer", "offer", "match", "offer"]
    match = out[3][1]
    assert match == {
        "product": match_standin.new_product_id(engine_offer("amazon:A1")),
        "offers": ["amazon:A1", "noon:N1"],
        "cheapest": {"key": "noon:N1", "site": "noon", "price": "2949.00", "currency": "AED"},
        "rule": "standin-title",
        "score": 1.0,
        "matched": ["noon:N1", "amazon:A1"],
    }
    assert products(out) == [match]


def test_a_redelivered_site_drops_its_offers_from_the_products_and_they_match_again() -> None:
    restarted: Event = ("site-started", "2-0", {"site": "noon", "attempt": 1})
    out = grouped([*STREAM, restarted, offer_event("noon", "N1", PHONE, "2899.00")])
    names = [name for name, _ in out]
    assert names == ["offer", "offer", "offer", "match", "offer", "site-started", "offer", "match"]
    assert out[-1][1]["cheapest"]["price"] == "2899.00"
    assert [p["cheapest"]["price"] for p in products(out)] == ["2899.00"]


def test_a_failing_matcher_stops_the_match_events_not_the_offers(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(offer: Any, candidates: Any) -> Any:
        raise RuntimeError("matcher broke")

    monkeypatch.setattr(engine, "assign", broken)
    assert [name for name, _ in grouped(STREAM)] == ["offer"] * 4


def engine_offer(key: str) -> Any:
    from looqta.match.model import Offer

    return Offer(key=key, site=key.split(":")[0], title=PHONE)


def sandbox_crawl(sandbox: SandboxProcess, mongo_db: str, tmp_path: Path) -> dict[str, CrawlResult]:
    """Both sites crawled for ``QUERY`` at once, two processes, into the test store (their matching is
    left off: the crawl processes have the real engine, these tests the stand-in)."""
    results: dict[str, CrawlResult] = {}

    def crawl(site: str) -> None:
        (tmp_path / site).mkdir()
        results[site] = run_crawl(
            site,
            tmp_path / site,
            spider_args={"q": QUERY, "max_pages": 2, "base_url": sandbox.url(site)},
            settings={
                "MONGO_DATABASE": mongo_db,
                "LOOQTA_FILES_ENABLED": False,
                "LOOQTA_STORE_MATCH_ENABLED": False,
                "LOOQTA_STORE_SPOOL_DIR": str(tmp_path / site / "spool"),
            },
        )

    threads = [threading.Thread(target=crawl, args=(site,)) for site in ("amazon", "noon")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_every_products_page_shows_the_cheapest_offer_and_the_last_price_change(
    clean_sandbox: SandboxProcess, mongo_uri: str, mongo_db: str, db: Any, redis_url: str, tmp_path: Path
) -> None:
    results = sandbox_crawl(clean_sandbox, mongo_db, tmp_path)
    for site, result in results.items():
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.items, site
    crawled = [item for result in results.values() for item in result.items]
    # A later crawl sees every third offer 10% cheaper (the sandbox's prices do not move by themselves);
    # it also matches every offer into products (incremental matching, the stand-in).
    later = [
        {
            **item,
            "price": (Decimal(item["price"]) * Decimal("0.9")).quantize(Decimal("0.01"))
            if number % 3 == 0
            else Decimal(item["price"]),
            "scraped_at": "2030-01-01T00:00:00+00:00",
            "files": [],
        }
        for number, item in enumerate(crawled)
    ]
    crawl_in_process(store_settings(mongo_uri, mongo_db, tmp_path / "later"), later)
    stored = list(db.products.find())
    assert sum(len(p["offer_keys"]) for p in stored) == db.offers.count_documents({}) == len(crawled)
    assert any(len(p["sites"]) == 2 for p in stored), "the sandbox shows some phones on both sites"
    config = ServeConfig(
        redis=RedisConfig(url=redis_url), store=StoreConfig(uri=mongo_uri, database=mongo_db)
    )
    changed = 0
    with running_service(config) as base, httpx.Client(base_url=base, timeout=30) as client:
        for product in stored:
            page = client.get(f"/api/products/{product['_id']}")
            assert page.status_code == 200, page.text
            shown = page.json()
            now = {o["key"]: Decimal(o["price"]) for o in shown["offers"]}
            assert now == {key: stored_price(db, key) for key in product["offer_keys"]}
            cheapest = min(now.items(), key=lambda kv: (kv[1], kv[0]))
            assert (shown["cheapest"]["key"], Decimal(shown["cheapest"]["price"])) == cheapest
            for entry in shown["offers"]:
                history = recorded(db, entry["key"])
                assert [Decimal(h["price"]) for h in entry["history"]] == [h["price"] for h in history]
                if len(history) < 2:
                    assert entry["last_change"] is None
                    continue
                changed += 1
                assert Decimal(entry["last_change"]["previous_price"]) == history[-2]["price"]
                assert Decimal(entry["last_change"]["price"]) == history[-1]["price"] == now[entry["key"]]
                assert entry["last_change"]["changed_at"].startswith("2030-01-01T00:00:00")
        assert changed == len([n for n in range(len(crawled)) if n % 3 == 0])
        unknown = client.get("/api/products/p-nothing-here")
        assert unknown.status_code == 404
        assert "no product 'p-nothing-here'" in unknown.json()["detail"]
        malformed = client.get("/api/products/%24where")
        assert malformed.status_code == 400
        assert "malformed product id" in malformed.json()["detail"]


def stored_price(db: Any, key: str) -> Decimal:
    site, source_id = key.split(":", 1)
    return db.offers.find_one({"source": site, "source_id": source_id})["price"].to_decimal()


def recorded(db: Any, key: str) -> list[dict[str, Any]]:
    site, source_id = key.split(":", 1)
    found = db.price_history.find({"source": site, "source_id": source_id}).sort("seen_at", 1)
    return [{"price": h["price"].to_decimal(), "seen_at": h["seen_at"]} for h in found]


def test_the_page_in_chromium_shows_one_row_per_product_with_the_cheapest_marked(
    redis_url: str, tmp_path: Path
) -> None:
    events = grouped([*STREAM, ("done", None, {"id": "s", "sites": {}})])
    body = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)
    settings = Settings()
    settings.setmodule("looqta.settings", priority="project")
    settings.set("LOOQTA_DATA_DIR", str(tmp_path), priority="cmdline")
    options = BrowserConfig.from_settings(settings).launch_options({})
    config = ServeConfig(redis=RedisConfig(url=redis_url))
    with running_service(config) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(**options)
        try:
            page = browser.new_page()
            # The search's events as the service sent them (above, through with_matches).
            page.route(
                "**/api/search?*",
                lambda route: route.fulfill(
                    status=200, headers={"content-type": "text/event-stream"}, body=body
                ),
            )
            page.goto(f"{base}/")
            page.fill("#q", "anything")
            page.press("#q", "Enter")
            page.wait_for_function("document.getElementById('state').textContent.includes('done')")
            rows = page.eval_on_selector_all(
                ".offer",
                """els => els.map(e => [...e.querySelectorAll('.site-price')].map(
                    p => [p.dataset.key, p.classList.contains('cheapest'), p.textContent]))""",
            )
        finally:
            browser.close()
    assert rows == [  # one row per product, sorted by its cheapest price
        [["amazon:A2", False, "amazon: 1499.00 AED"]],
        [["noon:N2", False, "noon: 2599.00 AED"]],
        [["noon:N1", True, "★ noon: 2949.00 AED"], ["amazon:A1", False, "amazon: 3199.00 AED"]],
    ]


def test_the_service_reads_the_store_with_the_crawls_settings_and_says_when_it_does_not_answer(
    redis_url: str,
) -> None:
    settings = Settings({"MONGO_URI": "mongodb://127.0.0.1:9", "MONGO_DATABASE": "shop"})
    settings.set("LOOQTA_STORE_CONNECT_TIMEOUT_SECONDS", 0.3)
    store = ServeConfig.from_settings(settings).store
    assert (store.uri, store.database, store.connect_timeout_seconds) == (
        "mongodb://127.0.0.1:9",
        "shop",
        0.3,
    )
    with running_service(ServeConfig(redis=RedisConfig(url=redis_url), store=store)) as base:
        answer = httpx.get(f"{base}/api/products/o-1", timeout=30)
    assert answer.status_code == 503
    assert answer.json()["detail"].startswith("the store did not answer: 127.0.0.1:9")
