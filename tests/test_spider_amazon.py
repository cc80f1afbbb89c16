"""The amazon spider end to end: sandbox on port 0, real Chromium, real ``scrapy crawl``."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
from crawling import run_crawl

from looqta.sandbox.catalogue import Catalogue

if TYPE_CHECKING:
    from pathlib import Path

    from looqta.sandbox.client import SandboxProcess

CATALOGUE = Catalogue("amazon")


@pytest.mark.parametrize("page_pool", [True, False], ids=["page-pool", "scrapy-playwright"])
def test_search_yields_every_matching_product_with_exact_fields(
    clean_sandbox: SandboxProcess, tmp_path: Path, page_pool: bool
) -> None:
    base, cdn = clean_sandbox.url("amazon"), clean_sandbox.url("amazon-cdn")
    expected = {p.source_id: p for p in CATALOGUE.search_all("iphone 15 pro max")}
    assert 0 < len(expected) <= 20  # one result page

    # No file pipeline here: the sandbox log below must show what the browser itself fetched.
    result = run_crawl(
        "amazon",
        tmp_path,
        spider_args={"q": "iphone 15 pro max", "base_url": base},
        settings={"LOOQTA_FILES_ENABLED": False, "LOOQTA_PAGE_POOL_ENABLED": page_pool},
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(item["source_id"] for item in result.items) == sorted(expected)
    for item in result.items:
        product = expected[item["source_id"]]
        assert item["source"] == "amazon"
        assert item["title"] == product.title
        assert Decimal(item["price"]) == product.price
        assert item["price"] == str(product.price)  # exact decimal text, no float rounding
        assert item["currency"] == "AED"
        assert (Decimal(item["rating"]) if item["rating"] else None) == product.rating
        assert item["review_count"] == product.review_count
        assert item["url"] == f"{base}/dp/{product.source_id}"
        assert item["image_urls"] == [f"{cdn}/images/{product.source_id}.jpg"]
        # The datasheet link only exists once the product page's JavaScript has run.
        assert item["file_urls"] == [f"{cdn}/documents/{product.source_id}.pdf"]
        assert item["scraped_at"].endswith("+00:00")
    # Search pages are plain HTTP, product pages are rendered: one browser page per product.
    assert result.stat("looqta/render/browser") == len(expected)
    assert result.stat("looqta/render/http") >= 1
    assert result.stat("looqta/validate/ok") == len(expected)
    # Rendered product pages show an image, but the browser never fetched one (the page pool
    # launches Chromium with images off; scrapy-playwright's path aborts them one by one).
    images = [r for r in clean_sandbox.requests("amazon-cdn") if r["path_qs"].startswith("/images/")]
    assert images == []
    if page_pool:
        assert result.stat("looqta/pagepool/pages_reused") > 0  # the default handler reused its pages
    else:
        assert result.stat("playwright/page_count") == len(expected)  # a new page per product
        assert result.stat("playwright/request_count/aborted") == len(expected)  # its image, aborted


def test_max_pages_bounds_pagination_and_csv_feed_is_valid(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    matches = CATALOGUE.search_all("iphone")
    assert len(matches) > 40  # more than two pages of 20
    result = run_crawl(
        "amazon",
        tmp_path,
        spider_args={"q": "iphone", "max_pages": 2, "base_url": clean_sandbox.url("amazon")},
        feed_format="csv",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert {row["source_id"] for row in result.items} == {p.source_id for p in matches[:40]}
    assert set(result.items[0]) >= {"source", "source_id", "title", "price", "currency", "url", "scraped_at"}
    search_pages = [r for r in clean_sandbox.requests("amazon") if r["path_qs"].startswith("/s?")]
    assert len(search_pages) == 2


def test_malformed_product_page_is_dropped_with_a_reason_and_the_crawl_goes_on(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    expected = CATALOGUE.search_all("iphone 15 pro max")
    broken = expected[0].source_id
    clean_sandbox.set_faults("amazon", malformed=True, path_prefix=f"/dp/{broken}")
    result = run_crawl(
        "amazon", tmp_path, spider_args={"q": "iphone 15 pro max", "base_url": clean_sandbox.url("amazon")}
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(i["source_id"] for i in result.items) == sorted(p.source_id for p in expected[1:])
    assert result.stat("looqta/validate/dropped") == 1
    assert result.stat("looqta/validate/dropped/missing_price") == 1
    assert f"Dropped: amazon:{broken} at " in result.stderr
    assert "missing_price" in result.stderr


def test_bad_arguments_refused_before_any_request(clean_sandbox: SandboxProcess, tmp_path: Path) -> None:
    base = clean_sandbox.url("amazon")
    negative = run_crawl("amazon", tmp_path, spider_args={"q": "iphone", "max_pages": -1, "base_url": base})
    missing_q = run_crawl("amazon", tmp_path, spider_args={"base_url": base})
    assert negative.returncode == 2  # a usage error, not a crash
    assert "max_pages must be a positive integer, got '-1'" in negative.stderr
    assert missing_q.returncode == 2
    assert "the search query is missing: pass -a q=<words>" in missing_q.stderr
    assert clean_sandbox.requests("amazon") == []
