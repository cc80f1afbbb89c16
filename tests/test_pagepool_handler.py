"""The pooled download handler end to end: real crawls, Chromium, the sandbox."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from crawling import run_crawl
from test_spider_noon import expected_offers

if TYPE_CHECKING:
    from pathlib import Path

    from looqta.sandbox.client import SandboxProcess

POOLED = "looqta.pagepool.handler.PooledPlaywrightDownloadHandler"
PLAIN = "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"
SEARCH_API = "/__render__/api/search"
TEST_SPIDER = "tests/spiders/pagepool.py"
QUIET = {"ROBOTSTXT_OBEY": False, "ITEM_PIPELINES": {}}
#: The spider's items as validated, before files and storage add their own fields.
VALIDATION_ONLY = {"looqta.pipelines.validate.ValidationPipeline": 100}


def handlers(path: str) -> dict[str, Any]:
    return {"DOWNLOAD_HANDLERS": {"http": path, "https": path}}


def pool_stats(stats: dict[str, Any]) -> dict[str, Any]:
    return {key.removeprefix("looqta/pagepool/"): value for key, value in stats.items() if "pagepool" in key}


def run_test_spider(
    sandbox: SandboxProcess, tmp_path: Path, mode: str, settings: dict[str, Any], pages: int = 3
) -> Any:
    result = run_crawl(
        TEST_SPIDER,
        tmp_path,
        runspider=True,
        spider_args={"noon": sandbox.url("noon"), "mode": mode, "pages": pages},
        settings={**QUIET, **settings},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_items_are_identical_to_scrapy_playwright_and_one_page_serves_every_render(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    args = {"q": "laptop", "max_pages": 5, "base_url": clean_sandbox.url("noon")}
    runs = {}
    for name, handler in (("plain", PLAIN), ("pooled", POOLED)):
        (tmp_path / name).mkdir()
        settings = {**handlers(handler), "ITEM_PIPELINES": VALIDATION_ONLY, "LOOQTA_RENDER_MODE": "browser"}
        runs[name] = run_crawl("noon", tmp_path / name, spider_args=args, settings=settings)
        assert runs[name].returncode == 0, runs[name].stderr[-3000:]

    def comparable(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows = [{k: v for k, v in item.items() if k != "scraped_at"} for item in items]
        return sorted(rows, key=lambda row: row["source_id"])

    plain, pooled = runs["plain"], runs["pooled"]
    assert {item["source_id"] for item in plain.items} == set(expected_offers("laptop", 5))
    assert comparable(pooled.items) == comparable(plain.items)
    # Five listing pages rendered each way: five new pages before, one page reused since.
    assert plain.stat("looqta/render/browser") == pooled.stat("looqta/render/browser") == 5
    assert plain.stat("playwright/page_count") == 5
    assert pool_stats(pooled.stats) == {
        "contexts_opened": 1,
        "pages_opened": 1,
        "pages_reused": 4,
        "renderer_gcs": 1,  # the 4th reset (LOOQTA_PAGE_POOL_GC_EVERY_USES = 4)
        "page_limit": 4,
        "in_use": 0,
        "in_use_max": 1,
    }
    # looqta's PLAYWRIGHT_ABORT_REQUEST aborts images: scrapy-playwright aborts each request for
    # one, the pooled handler's browser does not even ask for them.
    images = plain.stat("playwright/request_count/resource_type/image")
    assert images >= 5 * 24  # every product image of five listings (and the express badge)
    assert plain.stat("playwright/request_count/aborted") == images
    assert pooled.stat("playwright/request_count/resource_type/image") == 0


def test_pages_are_recycled_after_n_uses_and_contexts_after_m_pages(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    result = run_test_spider(
        clean_sandbox,
        tmp_path,
        "listing",
        {
            **handlers(POOLED),
            "CONCURRENT_REQUESTS": 1,  # one render at a time: the counts below are exact
            "LOOQTA_PAGE_POOL_PAGE_MAX_USES": 4,
            "LOOQTA_PAGE_POOL_CONTEXT_MAX_PAGES": 2,
        },
        pages=12,
    )
    assert sorted(item["page"] for item in result.items) == list(range(1, 13))
    assert all(len(item["skus"]) == 24 for item in result.items)
    # 12 renders, 4 per page -> 3 pages; 2 pages per context -> the first context was replaced.
    assert pool_stats(result.stats) == {
        "contexts_opened": 2,
        "contexts_recycled": 1,
        "pages_opened": 3,
        "pages_reused": 9,
        "pages_recycled": 3,
        "page_limit": 4,
        "in_use": 0,
        "in_use_max": 1,
    }


STATE_CASES = {
    "scrapy-playwright, a new page per request (control)": {**handlers(PLAIN)},
    "pooled page, shared context": {**handlers(POOLED)},
    "pooled page, shared context, blank reset": {**handlers(POOLED), "LOOQTA_PAGE_POOL_BLANK_RESET": True},
    "pooled page, isolated context": {**handlers(POOLED), "LOOQTA_PAGE_POOL_ISOLATED_CONTEXTS": "default"},
}


@pytest.fixture(scope="module")
def state_visits(sandbox: SandboxProcess, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Three visits to the state page, one after the other, in each way of rendering."""
    runs = {}
    for case, settings in STATE_CASES.items():
        result = run_test_spider(sandbox, tmp_path_factory.mktemp("state"), "state", settings)
        runs[case] = (sorted(result.items, key=lambda item: item["visit"]), pool_stats(result.stats))
    return runs


def test_a_reused_page_carries_exactly_what_a_new_page_of_its_context_would(
    state_visits: dict[str, Any],
) -> None:
    new_page, _ = state_visits["scrapy-playwright, a new page per request (control)"]
    reused, stats = state_visits["pooled page, shared context"]
    assert stats["pages_opened"] == 1
    assert stats["pages_reused"] == 2
    blank_reset, blank_stats = state_visits["pooled page, shared context, blank reset"]
    assert (blank_stats["pages_opened"], blank_stats["pages_reused"]) == (1, 2)
    assert blank_reset == new_page
    # The context is the session: cookies and localStorage of earlier visits are there, either way...
    assert [visit["cookie"] for visit in new_page] == ["server_seen=1"] + ["server_seen=1; looqta_seen=1"] * 2
    assert [visit["localStorage"] for visit in new_page] == [{}] + [{"looqta_seen": "1"}] * 2
    # ...and what belongs to the tab (sessionStorage, window.name, even if written by a timer
    # while the page waited or by handlers while it unloaded) is not: the reused page shows
    # the same as a new page, visit for visit.
    assert [visit["sessionStorage"] for visit in new_page] == ["{}"] * 3
    assert [visit["name"] for visit in new_page] == [""] * 3
    assert reused == new_page


def test_a_page_of_an_isolated_context_keeps_nothing_from_the_previous_request(
    state_visits: dict[str, Any],
) -> None:
    visits, stats = state_visits["pooled page, isolated context"]
    assert stats["pages_opened"] == 1
    assert stats["pages_reused"] == 2
    for visit in visits:
        assert visit["cookie"] == "server_seen=1"  # set by this very response
        assert visit["localStorage"] == {}
        assert visit["sessionStorage"] == "{}"
        assert visit["name"] == ""


def test_a_crashed_or_hung_page_is_replaced_and_its_request_still_completes(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    # The listing's API answers after 1 s, so a fault fired on "load" always beats the listing.
    clean_sandbox.set_faults("noon", latency_ms=1000, path_prefix=SEARCH_API)
    result = run_test_spider(
        clean_sandbox,
        tmp_path,
        "faults",
        {**handlers(POOLED), "DOWNLOAD_TIMEOUT": 3, "RETRY_TIMES": 0},
    )
    assert sorted(item["page"] for item in result.items) == [1, 2, 3]
    assert all(len(item["skus"]) == 24 for item in result.items)
    stats = pool_stats(result.stats)
    assert stats["pages_discarded/crashed"] == 1  # page 1's renderer crashed
    assert stats["pages_discarded/timeout"] == 1  # page 2 hung past download_timeout
    assert stats["retries"] == 2
    assert "retry/count" not in result.stats  # recovered inside the handler, not by RetryMiddleware
    api_calls = [r for r in clean_sandbox.requests("noon") if r["path_qs"].startswith(SEARCH_API)]
    # Pages 1 and 2 twice, page 3 once; page 1's renderer may crash before its script's request
    # leaves (seen once in CI under load: 4), so that first attempt is not always on the wire.
    assert 4 <= len(api_calls) <= 5
    assert sum(r["path_qs"].endswith("page=2") for r in api_calls) == 2  # the hung page was asked again


def test_set_page_limit_bounds_pages_rendering_at_once(clean_sandbox: SandboxProcess, tmp_path: Path) -> None:
    clean_sandbox.set_faults("noon", latency_ms=300, path_prefix=SEARCH_API)  # renders overlap
    result = run_test_spider(
        clean_sandbox,
        tmp_path,
        "limit",
        {**handlers(POOLED), "CONCURRENT_REQUESTS_PER_DOMAIN": 8, "LOOQTA_PAGE_POOL_MAX_PAGES": 6},
    )
    phases = sorted((item for item in result.items if "phase" in item), key=lambda item: item["phase"])
    assert len([item for item in result.items if "page" in item]) == 4 + 6 + 3
    # Phase 0: limit 1 while 4 requests were ready; phase 1: limit 3 for 6; phase 2: back to 1.
    assert [phase["page_limit"][0] for phase in phases] == [1, 3, 1]
    assert [phase["in_use_max"] for phase in phases] == [1, 3, 1]
    assert [phase["pages_opened"] for phase in phases] == [1, 3, 3]
    assert phases[2]["pages_evicted"] == 2  # shrinking closed the idle pages over the limit
    assert result.stat("looqta/pagepool/page_limit") == 1
