"""The noon spider end to end: its listing exists only once JavaScript has run."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from crawling import run_crawl

from looqta.sandbox.catalogue import Catalogue

if TYPE_CHECKING:
    from pathlib import Path

    from looqta.sandbox.client import SandboxProcess

CATALOGUE = Catalogue("noon")
SEARCH_API = "/_svc/catalog/api/v3/search"


def test_rendered_listing_yields_every_product_with_exact_fields(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    base, cdn = clean_sandbox.url("noon"), clean_sandbox.url("noon-cdn")
    expected = {p.source_id: p for p in CATALOGUE.search_all("iphone")}
    assert len(expected) > 48  # more than two listing pages of 24

    result = run_crawl("noon", tmp_path, spider_args={"q": "iphone", "max_pages": 2, "base_url": base})

    assert result.returncode == 0, result.stderr[-3000:]
    first_two_pages = [p.source_id for p in CATALOGUE.search_all("iphone")[:48]]
    assert sorted(item["source_id"] for item in result.items) == sorted(first_two_pages)
    for item in result.items:
        product = expected[item["source_id"]]
        assert item["title"] == product.title
        assert item["price"] == str(product.price)
        assert (Decimal(item["rating"]) if item["rating"] else None) == product.rating
        assert item["review_count"] == product.review_count
        assert item["url"] == f"{base}/uae-en/{product.slug}/{product.source_id}/p/"
        assert item["image_urls"] == [f"{cdn}/images/{product.source_id}.png"]
        assert item["file_urls"] == [f"{cdn}/documents/{product.source_id}.pdf"]
    # Listing pages are rendered (2), product pages are plain HTTP (48).
    assert result.stat("looqta/render/browser") == 2
    assert result.stat("looqta/render/http") >= 48
    api_calls = [r for r in clean_sandbox.requests("noon") if r["path_qs"].startswith(SEARCH_API)]
    assert len(api_calls) == 2  # the browser ran the listing's JavaScript, once per page


def test_without_javascript_the_listing_is_empty(clean_sandbox: SandboxProcess, tmp_path: Path) -> None:
    result = run_crawl(
        "noon",
        tmp_path,
        spider_args={"q": "iphone", "max_pages": 1, "base_url": clean_sandbox.url("noon")},
        settings={
            "PLAYWRIGHT_CONTEXTS": {"default": {"java_script_enabled": False}},
            "LOOQTA_RENDER_WAIT_TIMEOUT_SECONDS": 2,
            "RETRY_TIMES": 0,
        },
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.items == []
    log = clean_sandbox.requests("noon")
    assert any(r["path_qs"].startswith("/uae-en/search") for r in log)  # the page was fetched...
    assert not any(r["path_qs"].startswith(SEARCH_API) for r in log)  # ...but its script never ran


def test_silently_truncated_product_page_is_dropped_and_the_rest_kept(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    expected = CATALOGUE.search_all("iphone 15 pro max")
    broken = expected[-1]
    clean_sandbox.set_faults(
        "noon", truncate=True, truncate_mode="short", path_prefix=f"/uae-en/{broken.slug}/{broken.source_id}/"
    )
    result = run_crawl(
        "noon", tmp_path, spider_args={"q": "iphone 15 pro max", "base_url": clean_sandbox.url("noon")}
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(i["source_id"] for i in result.items) == sorted(p.source_id for p in expected[:-1])
    assert result.stat("looqta/validate/dropped") == 1
    assert f"noon:{broken.source_id}" in result.stderr


def test_cut_transfer_is_retried_then_given_up_and_the_rest_kept(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    expected = CATALOGUE.search_all("iphone 15 pro max")
    broken = expected[0]
    clean_sandbox.set_faults(
        "noon",
        truncate=True,
        truncate_mode="dataloss",
        path_prefix=f"/uae-en/{broken.slug}/{broken.source_id}/",
    )
    result = run_crawl(
        "noon", tmp_path, spider_args={"q": "iphone 15 pro max", "base_url": clean_sandbox.url("noon")}
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(i["source_id"] for i in result.items) == sorted(p.source_id for p in expected[1:])
    assert result.stat("retry/max_reached") == 1
    attempts = [r for r in clean_sandbox.requests("noon") if broken.source_id in r["path_qs"]]
    assert len(attempts) == 3  # first try + RETRY_TIMES=2
