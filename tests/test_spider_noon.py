"""The noon spider end to end on the real-shaped sandbox: server-rendered listings, JSON-LD products."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from crawling import run_crawl

from looqta.sandbox.catalogue import Catalogue
from looqta.sandbox.client import SandboxProcess
from looqta.sandbox.sites import noon
from looqta.sandbox.variants import has_offer

if TYPE_CHECKING:
    from pathlib import Path

    from looqta.sandbox.catalogue import Product

CATALOGUE = Catalogue("noon")
NO_FILES = {"LOOQTA_FILES_ENABLED": False}


def expected_offers(query: str, pages: int) -> dict[str, Product]:
    shown = CATALOGUE.search_all(query)[: pages * noon.PAGE_SIZE]
    return {p.source_id: p for p in shown if has_offer("noon", p.source_id)}


def test_listing_yields_exact_items_with_the_locales_currency(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    base, cdn = clean_sandbox.url("noon"), clean_sandbox.url("noon-cdn")
    expected = expected_offers("iphone", 2)
    assert len(CATALOGUE.search_all("iphone")) > 2 * noon.PAGE_SIZE
    result = run_crawl(
        "noon", tmp_path, spider_args={"q": "iphone", "max_pages": 2, "base_url": base}, settings=NO_FILES
    )
    assert result.returncode == 0, result.stderr[-3000:]
    items = {item["source_id"]: item for item in result.items}
    assert len(result.items) == len(items)  # the SKU shown twice is one item
    assert set(items) == set(expected)
    for sku, item in items.items():
        product = expected[sku]
        assert item["title"] == product.title
        assert item["price"] == str(product.price)
        assert item["currency"] == "AED"  # the page shows a glyph: the locale says AED
        assert (Decimal(item["rating"]) if item["rating"] else None) == product.rating
        assert item["url"] == f"{base}/uae-en/{product.slug}/{sku}/p/"  # without ?o=
        assert item["image_urls"] == [f"{cdn}/images/{sku}.png"]
    assert result.stat("looqta/fields/search/currency/locale") > 0
    assert result.stat("looqta/fields/search/price/plp-product-box-price amount") > 0
    assert result.stat("looqta/render/browser") == 0
    log = clean_sandbox.requests("noon")
    assert not [r for r in log if r["path_qs"].startswith(("/_svc/", "/_vs/", "/_serverFn/"))]


def test_a_new_front_end_build_changes_class_names_and_nothing_breaks(tmp_path: Path) -> None:
    with SandboxProcess(sites=("noon",), extra_args=("--build", "b1")) as other:
        assert noon.class_style("b1") != noon.class_style("current")
        result = run_crawl(
            "noon",
            tmp_path,
            spider_args={"q": "iphone", "max_pages": 1, "base_url": other.url("noon")},
            settings=NO_FILES,
        )
    assert result.returncode == 0, result.stderr[-3000:]
    assert {i["source_id"] for i in result.items} == set(expected_offers("iphone", 1))
    assert all(i["rating"] is not None or CATALOGUE.get(i["source_id"]).rating is None for i in result.items)


def test_robots_txt_is_obeyed_without_a_recorded_permission(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    result = run_crawl(
        "noon",
        tmp_path,
        spider_args={"q": "iphone", "base_url": clean_sandbox.url("noon")},
        settings={**NO_FILES, "LOOQTA_ROBOTS_PERMITTED": {}},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.items == []
    assert result.stat("robotstxt/forbidden") == 1
    assert [r["path_qs"] for r in clean_sandbox.requests("noon")] == ["/robots.txt"]


def test_details_read_the_json_ld_and_a_failed_page_keeps_the_listing_item(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    expected = expected_offers("iphone 15 pro max", 1)
    broken = next(iter(expected.values()))
    clean_sandbox.set_faults("noon", status=500, path_prefix=f"/uae-en/{broken.slug}/{broken.source_id}/")
    result = run_crawl(
        "noon",
        tmp_path,
        spider_args={"q": "iphone 15 pro max", "base_url": clean_sandbox.url("noon"), "details": 1},
        settings={**NO_FILES, "RETRY_TIMES": 1, "LOOQTA_BLOCKS_MAX_RETRIES": 1},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    items = {i["source_id"]: i for i in result.items}
    assert set(items) == set(expected)  # nothing lost
    assert items[broken.source_id]["availability"] is None  # its details could not be read
    for sku, item in items.items():
        if sku != broken.source_id:
            assert item["availability"] == "in_stock"
            assert item["price"] == str(expected[sku].price)
            assert item["review_count"] == expected[sku].review_count  # exact, not the box's "1.2K"
    assert result.stat("looqta/fields/product/price/json-ld:offers.price") == len(expected) - 1
    assert result.stat("looqta/details/failed") == 1


def test_forbidden_answers_are_retried_and_nothing_is_lost(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    expected = expected_offers("iphone", 3)
    clean_sandbox.set_faults("noon", blocks={"forbidden": 0.5}, block_seed=1)
    result = run_crawl(
        "noon",
        tmp_path,
        spider_args={"q": "iphone", "max_pages": 3, "base_url": clean_sandbox.url("noon")},
        settings=NO_FILES,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert {i["source_id"] for i in result.items} == set(expected)
    assert result.stat("looqta/blocks/forbidden") > 0


def test_a_missing_product_page_is_an_error_not_a_reason_to_render(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    expected = expected_offers("iphone 15 pro max", 1)
    gone = next(iter(expected.values()))
    clean_sandbox.set_faults("noon", status=404, path_prefix=f"/uae-en/{gone.slug}/{gone.source_id}/")
    result = run_crawl(
        "noon",
        tmp_path,
        spider_args={"q": "iphone 15 pro max", "base_url": clean_sandbox.url("noon"), "details": 1},
        settings=NO_FILES,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert {i["source_id"] for i in result.items} == set(expected)
    assert result.stat("looqta/details/failed") == 1
    assert result.stat("looqta/render/noon/product/to_browser") == 0  # a 404 says nothing of rendering
    assert result.stat("looqta/render/browser") == 0


def test_a_listing_that_repeats_its_last_page_is_not_followed_forever() -> None:
    from looqta.spiders.noon import NoonSpider

    spider = NoonSpider(q="x")
    assert spider.shows_new_products(spider.args, 1, {"A", "B"})
    assert spider.shows_new_products(spider.args, 2, {"C", "B"})
    assert not spider.shows_new_products(spider.args, 3, {"C", "A"})  # nothing new: the last page
    assert spider.shows_new_products(
        spider.args, 2, {"C", "D"}
    )  # page 2 read again (in the browser): its own entry
    assert not spider.shows_new_products(spider.args, 4, set())  # the empty page after the last


def test_details_read_brand_and_model_number_from_json_ld(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    expected = expected_offers("galaxy s24", 1)
    result = run_crawl(
        "noon",
        tmp_path,
        spider_args={"q": "galaxy s24", "max_pages": 1, "base_url": clean_sandbox.url("noon"), "details": 1},
        settings=NO_FILES,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert {i["source_id"] for i in result.items} == set(expected)
    with_model = 0
    for item in result.items:
        product = expected[item["source_id"]]
        assert item["brand"] == product.brand  # JSON-LD brand.name, though many titles leave it out
        shown = noon.shows_model(product)
        with_model += shown
        assert item["model"] == (product.model_code if shown else None)
        assert item["gtin"] is None  # no GTIN in noon's JSON-LD
    assert 0 < with_model < len(result.items)
    assert result.stat("looqta/fields/product/brand/json-ld:brand.name") == len(result.items)
    assert result.stat("looqta/fields/product/model/json-ld:model") == with_model
    assert result.stat("looqta/fields/product/model/missing") == len(result.items) - with_model
