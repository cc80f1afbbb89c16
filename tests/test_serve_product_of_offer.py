"""``GET /api/products?offer=<site>:<source_id>`` and the page's "Prices & history" dialog.

Real parts: the store server, Redis, uvicorn, the store pipeline (two crawls written in this process,
the second with a changed price), Chromium. The matcher is the tests' STAND-IN (``match_standin``:
same GTIN or same folded title). The search the page shows is a recorded SSE body (its product id is
the search's own, unknown to the store); the dialog reads the real service and store.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
import match_standin
import pytest
from mongo_fixtures import make_item, store_settings
from playwright.sync_api import sync_playwright
from scrapy.settings import Settings
from serving import running_service
from storing import crawl_in_process

from looqta.browser import BrowserConfig
from looqta.redisstore.config import RedisConfig
from looqta.serve.config import ServeConfig
from looqta.store.config import StoreConfig

if TYPE_CHECKING:
    from pathlib import Path

PHONE = "Apple iPhone 15 128GB Black"
FIRST, LATER = "2026-01-02T03:04:05+00:00", "2030-01-01T00:00:00+00:00"


@pytest.fixture(autouse=True)
def standin(monkeypatch: pytest.MonkeyPatch) -> None:
    match_standin.install(monkeypatch)


def item(site: str, source_id: str, title: str, price: str, scraped_at: str) -> Any:
    return make_item(
        1,
        source=site,
        source_id=source_id,
        title=title,
        price=Decimal(price),
        url=f"http://127.0.0.1/{site}/{source_id}",
        image_urls=[],
        scraped_at=scraped_at,
        files=[],
    )


def store_two_crawls(mongo_uri: str, mongo_db: str, tmp_path: Path) -> None:
    """The phone on amazon (3199.00, later 2879.10) and noon (2799.00 both times: the cheapest, though
    not the first offer by key nor the one that changed), and a watch on amazon only; matched into
    products as the store pipeline stores them."""
    first = [
        item("amazon", "A1", PHONE, "3199.00", FIRST),
        item("noon", "N1", PHONE.upper(), "2799.00", FIRST),
        item("amazon", "A2", "Garmin Forerunner 265", "1499.00", FIRST),
    ]
    later = [
        item("amazon", "A1", PHONE, "2879.10", LATER),
        item("noon", "N1", PHONE.upper(), "2799.00", LATER),
    ]
    crawl_in_process(store_settings(mongo_uri, mongo_db, tmp_path / "first"), first)
    crawl_in_process(store_settings(mongo_uri, mongo_db, tmp_path / "later"), later)


def serve_config(redis_url: str, mongo_uri: str, mongo_db: str) -> ServeConfig:
    return ServeConfig(redis=RedisConfig(url=redis_url), store=StoreConfig(uri=mongo_uri, database=mongo_db))


def test_the_stored_product_of_an_offer_is_the_products_own_page(
    mongo_uri: str, mongo_db: str, db: Any, redis_url: str, tmp_path: Path
) -> None:
    store_two_crawls(mongo_uri, mongo_db, tmp_path)
    [phone] = [p for p in db.products.find() if "amazon:A1" in p["offer_keys"]]
    assert phone["offer_keys"] == ["amazon:A1", "noon:N1"]
    with (
        running_service(serve_config(redis_url, mongo_uri, mongo_db)) as base,
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        by_id = client.get(f"/api/products/{phone['_id']}")
        by_amazon = client.get("/api/products", params={"offer": "amazon:A1"})
        by_noon = client.get("/api/products", params={"offer": "noon:N1"})
        unknown = client.get("/api/products", params={"offer": "noon:N9"})
        malformed = {
            value: client.get("/api/products", params={} if value is None else {"offer": value})
            for value in (None, "A1", "Amazon$:A1", "amazon:{$gt:1}")
        }
    assert by_id.status_code == by_amazon.status_code == by_noon.status_code == 200, by_amazon.text
    assert by_amazon.json() == by_noon.json() == by_id.json()
    shown = by_amazon.json()
    assert (shown["id"], shown["cheapest"]["key"], shown["cheapest"]["price"]) == (
        phone["_id"],
        "noon:N1",
        "2799.00",
    )
    amazon, noon = shown["offers"]
    assert (amazon["last_change"]["previous_price"], amazon["last_change"]["price"]) == ("3199.00", "2879.10")
    assert amazon["last_change"]["changed_at"].startswith("2030-01-01T00:00:00")
    assert [h["price"] for h in amazon["history"]] == ["3199.00", "2879.10"]
    assert (noon["key"], noon["last_change"], [h["price"] for h in noon["history"]]) == (
        "noon:N1",
        None,
        ["2799.00"],
    )
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "no stored product holds the offer 'noon:N9' (not in the store yet)"
    assert {value: answer.status_code for value, answer in malformed.items()} == dict.fromkeys(malformed, 400)
    assert {value: answer.json()["detail"] for value, answer in malformed.items()} == {
        None: "give the offer as ?offer=<site>:<source_id>, e.g. ?offer=amazon:B0CHX1W1XY",
        "A1": "malformed offer key 'A1': no ':' between the site and its id (<site>:<source_id>)",
        "Amazon$:A1": "malformed offer key 'Amazon$:A1': the site must be a spider name (a-z, 0-9, _ and -)",
        "amazon:{$gt:1}": (
            "malformed offer key 'amazon:{$gt:1}': the site's id must be letters, digits and ._:~+=/- "
            "(up to 200), starting with a letter or digit"
        ),
    }


def test_the_offer_lookup_says_when_the_store_does_not_answer(redis_url: str) -> None:
    store = StoreConfig(uri="mongodb://127.0.0.1:9", database="shop", connect_timeout_seconds=0.3)
    with running_service(ServeConfig(redis=RedisConfig(url=redis_url), store=store)) as base:
        answer = httpx.get(f"{base}/api/products", params={"offer": "amazon:A1"}, timeout=30)
    assert answer.status_code == 503
    assert answer.json()["detail"].startswith("the store did not answer: 127.0.0.1:9")


def sse(name: str, data: dict[str, Any]) -> str:
    return f"event: {name}\ndata: {json.dumps(data)}\n\n"


def offer(site: str, source_id: str, title: str, price: str) -> dict[str, Any]:
    fields = {"site": site, "source_id": source_id, "title": title, "price": price, "currency": "AED"}
    return {**fields, "url": f"http://127.0.0.1/{site}/{source_id}"}


#: A search as the service streams it: the phone on both sites (one row: a ``match`` event with the
#: search's own product id), and an offer of noon's the store has not seen.
SEARCH = "".join(
    [
        sse("search", {"id": "s", "query": "iphone", "cache": "miss"}),
        sse("offer", offer("amazon", "A1", PHONE, "2879.10")),
        sse("offer", offer("noon", "N1", PHONE.upper(), "2799.00")),
        sse(
            "match",
            {
                "product": "search-own-id",
                "offers": ["amazon:A1", "noon:N1"],
                "cheapest": {"key": "noon:N1", "site": "noon", "price": "2799.00", "currency": "AED"},
            },
        ),
        sse("offer", offer("noon", "N9", "Samsung Galaxy S24", "2599.00")),
        sse("done", {"id": "s", "sites": {}}),
    ]
)

#: Each stored offer the dialog shows: key, marked cheapest, price, last change, price history.
DIALOG_ROWS = """els => els.map(e => [e.dataset.key, e.classList.contains('cheapest'),
    e.querySelector('.stored-price').textContent, e.querySelector('.last-change').textContent,
    [...e.querySelectorAll('.history li')].map(li => li.textContent)])"""


def test_the_page_in_chromium_shows_a_rows_stored_offers_cheapest_and_last_price_change(
    mongo_uri: str, mongo_db: str, redis_url: str, tmp_path: Path
) -> None:
    store_two_crawls(mongo_uri, mongo_db, tmp_path)
    settings = Settings()
    settings.setmodule("looqta.settings", priority="project")
    settings.set("LOOQTA_DATA_DIR", str(tmp_path), priority="cmdline")
    options = BrowserConfig.from_settings(settings).launch_options({})
    with (
        running_service(serve_config(redis_url, mongo_uri, mongo_db)) as base,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(**options)
        try:
            page = browser.new_page()
            asked: list[str] = []
            page.on("request", lambda r: asked.append(r.url) if "/api/products" in r.url else None)
            page.route(
                "**/api/search?*",
                lambda route: route.fulfill(
                    status=200, headers={"content-type": "text/event-stream"}, body=SEARCH
                ),
            )
            page.goto(f"{base}/")
            page.fill("#q", "iphone")
            page.press("#q", "Enter")
            page.wait_for_selector("#state:has-text('done')")
            # The phone's row (both sites), opened from the keyboard.
            page.focus(".offer:has([data-key='amazon:A1']) button.details")
            page.keyboard.press("Enter")
            page.wait_for_selector("#product-state:has-text('store')")
            opened = page.eval_on_selector("#product", "d => d.open")
            title = page.inner_text("#product-title")
            state = page.inner_text("#product-state")
            stored = page.eval_on_selector_all("#product-offers tr", DIALOG_ROWS)
            page.keyboard.press("Escape")
            closed = not page.eval_on_selector("#product", "d => d.open")
            # The row of an offer the store has not seen yet.
            page.click(".offer:has([data-key='noon:N9']) button.details")
            page.wait_for_selector("#product-state:has-text('store')")
            unseen = page.inner_text("#product-state")
            unseen_rows = page.eval_on_selector_all("#product-offers tr", "els => els.length")
            page.keyboard.press("Escape")
            # A store that does not answer (the service's 503, as the API test above sees it).
            page.route(
                "**/api/products?*",
                lambda route: route.fulfill(
                    status=503,
                    headers={"content-type": "application/json"},
                    body=json.dumps({"detail": "the store did not answer: 127.0.0.1:9"}),
                ),
            )
            page.click(".offer:has([data-key='amazon:A1']) button.details")
            page.wait_for_selector("#product-state:has-text('store')")
            failed = page.inner_text("#product-state")
        finally:
            browser.close()
    assert asked == [
        f"{base}/api/products?offer=noon%3AN1",  # the row's cheapest offer first
        f"{base}/api/products?offer=noon%3AN9",
        f"{base}/api/products?offer=noon%3AN1",
    ]
    assert (opened, closed, title, state) == (True, True, PHONE.upper(), "2 offers in the store")
    assert stored == [
        [
            "amazon:A1",
            False,
            "2879.10 AED",
            "3199.00 → 2879.10 AED on 2030-01-01 00:00 UTC",
            ["2026-01-02 3199.00", "2030-01-01 2879.10"],
        ],
        ["noon:N1", True, "★ 2799.00 AED", "no change recorded", ["2026-01-02 2799.00"]],
    ]
    assert unseen == "not in the store yet: no stored product holds noon:N9"
    assert unseen_rows == 0
    assert failed == "could not read the store: 503: the store did not answer: 127.0.0.1:9"
