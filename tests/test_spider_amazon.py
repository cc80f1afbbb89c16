"""The amazon spider end to end on the real-shaped sandbox: real ``scrapy crawl``, real Chromium."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import TYPE_CHECKING

from crawling import run_crawl

from looqta.sandbox.catalogue import Catalogue
from looqta.sandbox.sites import amazon, amazon_product
from looqta.sandbox.variants import has_offer, pick

if TYPE_CHECKING:
    from pathlib import Path

    from looqta.sandbox.catalogue import Product
    from looqta.sandbox.client import SandboxProcess

CATALOGUE = Catalogue("amazon")
NO_FILES = {"LOOQTA_FILES_ENABLED": False}


def expected_offers(query: str, pages: int) -> dict[str, Product]:
    """Every product the first ``pages`` result pages show with an offer (organic or sponsored)."""
    matches = CATALOGUE.search_all(query)
    shown: dict[str, Product] = {}
    for page in range(1, pages + 1):
        result = CATALOGUE.search(query, page, amazon.PAGE_SIZE)
        for product, _sponsored in amazon.result_cards(result, matches):
            if has_offer("amazon", product.source_id):
                shown[product.source_id] = product
    return shown


def test_search_results_alone_yield_exact_items_over_plain_http(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    base, cdn = clean_sandbox.url("amazon"), clean_sandbox.url("amazon-cdn")
    expected = expected_offers("iphone", 2)
    # No store either: a feed alone must hold each product once (the dedup pipeline, not the store).
    result = run_crawl(
        "amazon",
        tmp_path,
        spider_args={"q": "iphone", "max_pages": 2, "base_url": base},
        settings={**NO_FILES, "LOOQTA_STORE_ENABLED": False},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    items = {item["source_id"]: item for item in result.items}
    assert len(result.items) == len(items)  # a sponsored repeat is one item
    assert set(items) == set(expected)
    for asin, item in items.items():
        product = expected[asin]
        assert item["title"] == product.title
        assert item["price"] == str(product.price)  # exact decimal text, whatever the spacing
        assert item["currency"] == "AED"
        assert (Decimal(item["rating"]) if item["rating"] else None) == product.rating
        assert item["review_count"] == product.review_count  # exact, though the card shows "(1.2K)"
        assert item["url"] == f"{base}/dp/{asin}"
        assert item["image_urls"] == [f"{cdn}/images/{asin}.jpg"]
    # Every variant served and read: both title layouts, through their own fallbacks.
    assert result.stat("looqta/fields/search/title/a>h2>span") > 0
    assert result.stat("looqta/fields/search/title/h2>a>span") > 0
    assert result.stat("looqta/fields/search/review_count/ratings[aria-label]") > 0
    assert result.stat("looqta/render/browser") == 0  # no page needed the browser
    assert result.stat("looqta/pages/search/ok") == 2
    products = [r for r in clean_sandbox.requests("amazon") if "/dp/" in r["path_qs"]]
    assert products == []  # no product page fetched without -a details=1


def test_details_merge_the_product_page_into_the_item(clean_sandbox: SandboxProcess, tmp_path: Path) -> None:
    base, cdn = clean_sandbox.url("amazon"), clean_sandbox.url("amazon-cdn")
    expected = expected_offers("iphone 15 pro max", 1)
    result = run_crawl(
        "amazon",
        tmp_path,
        spider_args={"q": "iphone 15 pro max", "base_url": base, "details": 1},
        settings=NO_FILES,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert {i["source_id"] for i in result.items} == set(expected)
    for item in result.items:
        product = expected[item["source_id"]]
        assert item["price"] == str(product.price)
        assert item["availability"] == "in_stock"
        assert item["file_urls"] == [f"{cdn}/documents/{product.source_id}.pdf"]
        assert item["image_urls"] == [f"{cdn}/images/{product.source_id}.jpg"]
    blocks_used = {
        key.rsplit("/", 1)[1] for key in result.stats if key.startswith("looqta/fields/product/price/")
    }
    assert "missing" not in blocks_used
    assert result.stat("looqta/render/browser") == 0  # product pages are server-rendered


def test_five_percent_blocks_of_every_kind_lose_nothing(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    expected = expected_offers("iphone", 3)
    clean_sandbox.set_faults(
        "amazon",
        blocks={"captcha": 0.1, "interstitial": 0.1, "server_error": 0.1, "forbidden": 0.1},
        block_seed=7,
    )
    result = run_crawl(
        "amazon",
        tmp_path,
        spider_args={"q": "iphone", "max_pages": 3, "base_url": clean_sandbox.url("amazon")},
        settings=NO_FILES,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert {i["source_id"] for i in result.items} == set(expected)
    assert result.stat("looqta/blocks/total") > 0
    assert result.stat("looqta/pages/search/unparsed") == 0  # no block page parsed as results
    assert result.stats["finish_reason"] == "finished"


def test_a_site_that_blocks_everything_ends_blocked_within_its_retry_budget(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    clean_sandbox.set_faults("amazon", blocks={"captcha": 1.0})
    result = run_crawl(
        "amazon",
        tmp_path,
        spider_args={"q": "iphone", "base_url": clean_sandbox.url("amazon")},
        settings={**NO_FILES, "LOOQTA_BLOCKS_MAX_RETRIES": 2},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.items == []
    assert result.stats["finish_reason"] == "blocked"
    assert result.stat("looqta/blocks/captcha") == 3  # the first answer and 2 retries
    assert result.stat("looqta/blocks/gave_up") == 1
    searches = [r for r in clean_sandbox.requests("amazon") if r["path_qs"].startswith("/s?")]
    assert len(searches) == 3


def test_a_javascript_challenge_moves_search_pages_to_the_browser(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    expected = expected_offers("iphone", 2)
    clean_sandbox.set_faults("amazon", challenge=1.0, challenge_ttl_seconds=0, path_prefix="/s")
    result = run_crawl(
        "amazon",
        tmp_path,
        spider_args={"q": "iphone", "max_pages": 2, "base_url": clean_sandbox.url("amazon")},
        settings=NO_FILES,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert {i["source_id"] for i in result.items} == set(expected)
    assert result.stat("looqta/blocks/challenge") == 1  # one plain try; then the page type moved
    assert result.stat("looqta/render/amazon/search/to_browser") == 1
    assert result.stat("looqta/render/browser") == 2


def test_bad_arguments_refused_before_any_request(clean_sandbox: SandboxProcess, tmp_path: Path) -> None:
    base = clean_sandbox.url("amazon")
    negative = run_crawl("amazon", tmp_path, spider_args={"q": "iphone", "max_pages": -1, "base_url": base})
    missing_q = run_crawl("amazon", tmp_path, spider_args={"base_url": base})
    bad_details = run_crawl("amazon", tmp_path, spider_args={"q": "x", "details": "maybe", "base_url": base})
    assert negative.returncode == 2  # a usage error, not a crash
    assert "max_pages must be a positive integer, got '-1'" in negative.stderr
    assert missing_q.returncode == 2
    assert "the search query is missing: pass -a q=<words>" in missing_q.stderr
    assert bad_details.returncode == 2
    assert "details must be 1 or 0" in bad_details.stderr
    assert clean_sandbox.requests("amazon") == []


def test_details_read_brand_and_model_number_through_each_fallback(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    """The brand from the "Product overview" row, the "Product information" table or the byline;
    the model number from the table ("Model Number") or the older bullets ("Item model number")."""
    expected = expected_offers("galaxy s24", 2)
    result = run_crawl(
        "amazon",
        tmp_path,
        spider_args={
            "q": "galaxy s24",
            "max_pages": 2,
            "base_url": clean_sandbox.url("amazon"),
            "details": 1,
        },
        settings=NO_FILES,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert {i["source_id"] for i in result.items} == set(expected)
    brand_from: Counter[str] = Counter()
    model_from: Counter[str] = Counter()
    for item in result.items:
        product = expected[item["source_id"]]
        asin = product.source_id
        layout = pick(amazon_product.DETAIL_LAYOUTS, "amazon", asin, "details")
        assert item["brand"] == product.brand
        assert item["model"] == (product.model_code if amazon_product.shows_model(product) else None)
        assert item["gtin"] is None  # amazon's pages show none
        if pick((True, True, False), "amazon", asin, "overview"):
            brand_from["po-brand"] += 1
        else:
            brand_from["prodDetTable Brand" if layout == "prodDetTable" else "bylineInfo"] += 1
        if not amazon_product.shows_model(product):
            model_from["missing"] += 1
        else:
            model_from[
                "prodDetTable Model Number" if layout == "prodDetTable" else "detailBullets Item model number"
            ] += 1
    assert len(brand_from) == 3
    assert len(model_from) == 3
    for name, count in brand_from.items():
        assert result.stat(f"looqta/fields/product/brand/{name}") == count, name
    for name, count in model_from.items():
        assert result.stat(f"looqta/fields/product/model/{name}") == count, name
