"""Two crawl processes (amazon and noon) write the same products to the real store server at once:
the products they match converge (one product per thing, every offer in exactly one).

The matcher is the tests' STAND-IN (installed by the spider, ``tests/spiders/match_offers.py``).
What this cannot show on the embedded SecantusDB: a real server's timing and topology (one Python
process on this host, a thread per connection under one interpreter lock; no replica set). The
narrowest race (both insert a product before either looks again) is forced by
``test_match_store.py`` instead; here it happens in most runs, not all.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from crawling import PROJECT_ROOT, CrawlResult, run_crawl

if TYPE_CHECKING:
    from pathlib import Path

COUNT = 60
SPIDER = str(PROJECT_ROOT / "tests" / "spiders" / "match_offers.py")


def test_amazon_and_noon_crawling_at_once_converge_on_one_product_each(
    mongo_db: str, db: Any, tmp_path: Path
) -> None:
    results: dict[str, CrawlResult] = {}

    def crawl(site: str) -> None:
        results[site] = run_crawl(
            SPIDER,
            tmp_path / site,
            runspider=True,
            spider_args={"site": site, "count": COUNT, "barrier": tmp_path / "barrier"},
            settings={
                "MONGO_DATABASE": mongo_db,
                "LOOQTA_STORE_BATCH_SIZE": 1,
                "LOOQTA_STORE_FLUSH_INTERVAL_SECONDS": 0.05,
                "LOOQTA_STORE_SPOOL_DIR": str(tmp_path / site / "spool"),
                "LOOQTA_FILES_ENABLED": False,
            },
            pythonpath=(PROJECT_ROOT / "tests",),
        )

    for name in ("amazon", "noon", "barrier"):
        (tmp_path / name).mkdir()
    threads = [threading.Thread(target=crawl, args=(site,)) for site in ("amazon", "noon")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for site, result in results.items():
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.stat("looqta/store/written") == COUNT, site
        assert result.stat("looqta/match/failed") == 0, result.stderr[-3000:]
    assert db.offers.count_documents({}) == 2 * COUNT
    products = list(db.products.find())
    held = [key for product in products for key in product["offer_keys"]]
    assert len(held) == len(set(held)) == 2 * COUNT  # every offer in exactly one product
    assert sorted(len(product["offer_keys"]) for product in products) == [2] * COUNT
    for product in products:
        amazon, noon = product["offer_keys"]
        assert amazon.removeprefix("amazon:A") == noon.removeprefix("noon:N")
        assert product["cheapest"]["key"] == amazon  # noon's offers cost 7 more
