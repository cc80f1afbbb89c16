"""Issue 21's product-page goal, end to end with the real matcher.

Two real crawl processes (amazon, noon) search the sandbox's shared world, whose prices then move
through the sandbox's price control; a second crawl sees them. Matching runs as the store writes
offers (the real engine, not a stand-in). Then, for every product the store holds, the search
service's ``GET /api/products/{id}`` must show the cheapest offer and each offer's last price change
as the *sandbox* set them (the truth is what the sites showed, not what the store wrote).
"""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
from crawling import CrawlResult, run_crawl
from serving import running_service

from looqta.redisstore.config import RedisConfig
from looqta.serve.config import ServeConfig
from looqta.store.config import StoreConfig

if TYPE_CHECKING:
    from pathlib import Path

    from looqta.sandbox.client import SandboxProcess

QUERY = "iphone"
SITES = ("amazon", "noon")


def crawl_both(sandbox: SandboxProcess, mongo_db: str, tmp_path: Path) -> dict[str, CrawlResult]:
    results: dict[str, CrawlResult] = {}

    def crawl(site: str) -> None:
        (tmp_path / site).mkdir(parents=True)
        results[site] = run_crawl(
            site,
            tmp_path / site,
            spider_args={"q": QUERY, "max_pages": 2, "base_url": sandbox.url(site)},
            settings={
                "MONGO_DATABASE": mongo_db,
                "LOOQTA_FILES_ENABLED": False,
                "LOOQTA_STORE_SPOOL_DIR": str(tmp_path / site / "spool"),
            },
        )

    threads = [threading.Thread(target=crawl, args=(site,)) for site in SITES]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for site, result in results.items():
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.items, site
    return results


def prices(results: dict[str, CrawlResult]) -> dict[str, Decimal]:
    return {
        f"{site}:{item['source_id']}": Decimal(str(item["price"]))
        for site, result in results.items()
        for item in result.items
    }


def test_every_product_shows_its_cheapest_offer_and_last_price_change_after_two_crawls(
    clean_sandbox: SandboxProcess, mongo_uri: str, mongo_db: str, db: Any, redis_url: str, tmp_path: Path
) -> None:
    first = prices(crawl_both(clean_sandbox, mongo_db, tmp_path / "first"))
    moved: dict[str, tuple[Decimal, Decimal]] = {}
    try:
        for site in SITES:
            changed = clean_sandbox.reprice(site, share=0.4, step_percent=10, seed=21)["changed"]
            for source_id, change in changed.items():
                key = f"{site}:{source_id}"
                if key in first:
                    assert Decimal(change["old"]) == first[key]
                    moved[key] = (Decimal(change["old"]), Decimal(change["price"]))
        second = prices(crawl_both(clean_sandbox, mongo_db, tmp_path / "second"))
    finally:
        for site in SITES:
            clean_sandbox.reset_prices(site)
    assert second.keys() == first.keys(), "a second crawl sees the same listings"
    assert moved, "the price control moved some crawled offers"
    for key, price in second.items():
        assert price == (moved[key][1] if key in moved else first[key]), key

    stored = list(db.products.find())
    offered = [key for product in stored for key in product["offer_keys"]]
    assert sorted(offered) == sorted(second), "every offer is in exactly one product"
    both = [product for product in stored if len(product["sites"]) == 2]
    assert both, "the shared world puts some phones on both sites, and the matcher found them"

    config = ServeConfig(
        redis=RedisConfig(url=redis_url), store=StoreConfig(uri=mongo_uri, database=mongo_db)
    )
    changes_seen = 0
    with running_service(config) as base, httpx.Client(base_url=base, timeout=30) as client:
        for product in stored:
            answer = client.get(f"/api/products/{product['_id']}")
            assert answer.status_code == 200, answer.text
            shown = answer.json()
            now = {offer["key"]: Decimal(offer["price"]) for offer in shown["offers"]}
            assert now == {key: second[key] for key in product["offer_keys"]}
            cheapest_key = min(now, key=lambda key: (now[key], key))
            assert shown["cheapest"]["key"] == cheapest_key
            assert Decimal(shown["cheapest"]["price"]) == second[cheapest_key]
            for offer in shown["offers"]:
                change = offer["last_change"]
                if offer["key"] not in moved:
                    assert change is None, offer
                    continue
                changes_seen += 1
                old, new = moved[offer["key"]]
                assert (Decimal(change["previous_price"]), Decimal(change["price"])) == (old, new)
                assert [Decimal(h["price"]) for h in offer["history"]][-2:] == [old, new]
    assert changes_seen == len(moved)
