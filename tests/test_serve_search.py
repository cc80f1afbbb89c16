"""The search service through its real parts: uvicorn, redis-server, warm crawler processes, the sandbox."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import crawling
import httpx
import pytest
import redis
from playwright.sync_api import sync_playwright
from scrapy.settings import Settings
from serving import read_sse, running_service
from test_spider_amazon import expected_offers as amazon_offers
from test_spider_noon import expected_offers as noon_offers
from warm_crawlers import WARM_TEST_SETTINGS, wait_for

from looqta.browser import BrowserConfig
from looqta.redisstore.config import RedisConfig
from looqta.serve import cache
from looqta.serve.config import ServeConfig
from looqta.serve.query import query_key
from looqta.serve.sandboxed import warm_crawlers

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from contextlib import AbstractContextManager
    from pathlib import Path

    from looqta.sandbox.client import SandboxProcess

SITES = ("amazon", "noon")
PAGES = 2


def expected(query: str) -> dict[str, set[str]]:
    return {"amazon": set(amazon_offers(query, PAGES)), "noon": set(noon_offers(query, PAGES))}


def by_site(offers: list[dict]) -> dict[str, set[str]]:
    return {site: {o["source_id"] for o in offers if o["site"] == site} for site in SITES}


def searched(sandbox: SandboxProcess, word: str) -> int:
    return sum(word in r["path_qs"] for site in SITES for r in sandbox.requests(site))


@pytest.fixture(scope="module")
def crawlers(sandbox: SandboxProcess, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    log_dir = tmp_path_factory.mktemp("serve-crawlers")
    with warm_crawlers(SITES, sandbox.urls, redis_url, log_dir, WARM_TEST_SETTINGS, crawling.crawl_env()):
        yield log_dir


@pytest.fixture
def service_with(
    crawlers: Path, redis_url: str, clean_sandbox: SandboxProcess
) -> Callable[..., AbstractContextManager[str]]:
    def start(**settings: object) -> AbstractContextManager[str]:
        fields = {"sites": SITES, "max_pages": PAGES, "site_timeout_seconds": 20.0, "heartbeat_seconds": 0.5}
        return running_service(ServeConfig(redis=RedisConfig(url=redis_url), **{**fields, **settings}))

    return start


@pytest.fixture
def service(service_with: Callable[..., AbstractContextManager[str]]) -> Iterator[str]:
    with service_with() as base:
        yield base


def test_offers_stream_before_the_slowest_site_is_done_and_a_repeat_is_a_cache_hit(
    service: str, clean_sandbox: SandboxProcess
) -> None:
    clean_sandbox.set_faults("noon", latency_ms=1500)
    live = read_sse(service, "USB  Charger")
    [search] = live.named("search")
    assert search.data["cache"] == "miss"
    assert search.data["query"] == "USB Charger"
    ends = {e.data["site"]: e for e in live.named("site-done")}
    assert set(ends) == set(SITES), live.events
    noon_offers_at = [e.at for e in live.named("offer") if e.data["site"] == "noon"]
    assert live.named("offer")[0].at < ends["noon"].at - 1.0  # the first offer well before noon ends
    assert min(noon_offers_at) < ends["noon"].at - 1.0  # noon's page 1 streamed before its page 2
    assert by_site(live.offers()) == expected("usb charger")
    assert all(ends[s].data["count"] == len(expected("usb charger")[s]) for s in SITES)
    assert live.events[-1].event == "done"
    assert all(e.id for e in live.events if e.event not in ("search", "done", "match"))

    crawled = searched(clean_sandbox, "charger")
    document = httpx.get(f"{service}/api/search.json", params={"q": "usb charger"}, timeout=30).json()
    assert document["search"] == {**search.data, "cache": "hit"}
    assert document["offers"] == live.offers()
    assert document["sites"]["noon"]["status"] == "done"
    again = read_sse(service, "usb CHARGER")
    assert again.named("search")[0].data["cache"] == "hit"
    assert [(e.event, e.id, e.data) for e in again.events[1:]] == [
        (e.event, e.id, e.data) for e in live.events[1:]
    ]
    assert searched(clean_sandbox, "charger") == crawled  # no new crawl


def test_a_reconnect_with_last_event_id_resumes_without_duplicates_and_a_gone_client_still_fills_the_cache(
    service: str, clean_sandbox: SandboxProcess, redis_url: str
) -> None:
    clean_sandbox.set_faults("amazon", latency_ms=1000)
    clean_sandbox.set_faults("noon", latency_ms=1000)
    first = read_sse(service, "camera", stop_after=3)  # the client goes away mid-search
    last_id = first.events[-1].id
    assert last_id
    rest = read_sse(service, "camera", headers={"Last-Event-ID": last_id})
    assert rest.named("search")[0].data["id"] == first.named("search")[0].data["id"]
    ids = [e.id for e in first.events + rest.events if e.id]
    assert len(ids) == len(set(ids))
    assert by_site(first.offers() + rest.offers()) == expected("camera")
    with redis.Redis.from_url(redis_url) as client:
        wait_for(lambda: client.exists(cache.cache_key(query_key("camera"))), 30, "camera cached")
    whole = read_sse(service, "camera")
    assert whole.named("search")[0].data["cache"] == "hit"
    assert [e.id for e in whole.events if e.id] == ids


def test_a_search_nobody_reads_to_the_end_still_fills_the_cache(
    service: str, clean_sandbox: SandboxProcess, redis_url: str
) -> None:
    clean_sandbox.set_faults("noon", latency_ms=1000)
    first = read_sse(service, "speaker", stop_after=1)
    assert first.named("search")[0].data["cache"] == "miss"
    with redis.Redis.from_url(redis_url) as client:
        raw = wait_for(lambda: client.get(cache.cache_key(query_key("speaker"))), 30, "speaker cached")
    offers = [d for _, event, site, d in cache.CachedSearch.decode(raw).entries if event == "offer"]
    assert {o["source_id"] for o in offers} == expected("speaker")["amazon"] | expected("speaker")["noon"]


@pytest.mark.parametrize(
    ("query", "reason"),
    [("", "empty"), ("x" * 201, "longer than 200"), ("tv\x07", "control"), ("http://10.0.0.1/", "URL")],
)
def test_bad_queries_get_400_with_the_reason(service: str, query: str, reason: str) -> None:
    for path in ("/api/search", "/api/search.json"):
        response = httpx.get(f"{service}{path}", params={"q": query}, timeout=10)
        assert response.status_code == 400
        assert reason in response.json()["detail"]
    assert httpx.get(f"{service}/api/search", timeout=10).status_code == 400  # no q at all


def test_searches_beyond_the_limit_get_429_and_the_same_query_shares_one_search(
    service_with: Callable[..., AbstractContextManager[str]], clean_sandbox: SandboxProcess
) -> None:
    clean_sandbox.set_faults("amazon", latency_ms=1500)
    clean_sandbox.set_faults("noon", latency_ms=1500)
    with service_with(max_in_flight=1, retry_after_seconds=7) as base:
        reads: list = []
        shopper = threading.Thread(target=lambda: reads.append(read_sse(base, "watch")))
        shopper.start()
        wait_for(lambda: searched(clean_sandbox, "watch"), 20, "the first search crawling")
        refused = httpx.get(f"{base}/api/search.json", params={"q": "headphones"}, timeout=10)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "7"
        shared = read_sse(base, "Watch")
        shopper.join(60)
        [first] = reads
    assert shared.named("search")[0].data["id"] == first.named("search")[0].data["id"]
    assert by_site(shared.offers()) == by_site(first.offers()) == expected("watch")
    pages = [r for s in SITES for r in clean_sandbox.requests(s) if "watch" in r["path_qs"]]
    assert len(pages) == len(SITES) * PAGES  # one crawl for two shoppers


def test_a_site_that_does_not_answer_in_time_fails_and_the_other_finishes(
    service_with: Callable[..., AbstractContextManager[str]], clean_sandbox: SandboxProcess
) -> None:
    clean_sandbox.set_faults("noon", latency_ms=8000)
    with service_with(site_timeout_seconds=3.0) as base:
        read = read_sse(base, "laptop")
    [failed] = read.named("site-failed")
    assert failed.data["site"] == "noon"
    assert failed.data["reason"] == "timeout"
    [done] = read.named("site-done")
    assert done.data["site"] == "amazon"
    assert by_site(read.offers())["amazon"] == expected("laptop")["amazon"]
    assert read.named("done")[0].data["sites"]["noon"]["status"] == "failed"
    assert read.comments >= 1  # heartbeats while noon was quiet


def test_a_stale_hit_is_served_at_once_and_refreshed_as_a_bulk_search(
    service_with: Callable[..., AbstractContextManager[str]], clean_sandbox: SandboxProcess, redis_url: str
) -> None:
    with service_with(cache_seconds=0.5, stale_seconds=600.0) as base:
        first = read_sse(base, "tv")
        first_id = first.named("search")[0].data["id"]
        stale = wait_for(
            lambda: (r := read_sse(base, "tv")).named("search")[0].data["cache"] == "stale" and r, 10, "stale"
        )
        assert stale.named("search")[0].data["id"] == first_id
        assert stale.offers() == first.offers()
        with redis.Redis.from_url(redis_url) as client:
            refreshed = wait_for(
                lambda: (
                    (raw := client.get(cache.cache_key(query_key("tv"))))
                    and cache.CachedSearch.decode(raw).search_id != first_id
                ),
                30,
                "the refresh in the cache",
            )
    assert refreshed
    bulk = [r for s in SITES for r in clean_sandbox.requests(s) if "tv" in r["path_qs"]]
    assert len(bulk) == 2 * len(SITES) * PAGES  # the search and its refresh


def test_the_page_health_and_host_check(service: str) -> None:
    page = httpx.get(f"{service}/", timeout=10)
    assert page.status_code == 200
    assert "new EventSource(" in page.text
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'sha256-" in policy
    assert "unsafe-inline" not in policy
    health = httpx.get(f"{service}/healthz", timeout=10).json()
    assert (health["ok"], health["sites"], set(health["crawlers"])) == (True, list(SITES), set(SITES))
    rebound = httpx.get(f"{service}/healthz", headers={"Host": "evil.example"}, timeout=10)
    assert rebound.status_code == 400


def test_the_page_in_chromium_shows_offers_before_the_slow_site_ends_and_reports_its_failure(
    service_with: Callable[..., AbstractContextManager[str]], clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    settings = Settings()
    settings.setmodule("looqta.settings", priority="project")
    settings.set("LOOQTA_DATA_DIR", str(tmp_path), priority="cmdline")
    options = BrowserConfig.from_settings(settings).launch_options({})
    clean_sandbox.set_faults("noon", latency_ms=6000)
    with service_with(site_timeout_seconds=3.0) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(**options)
        try:
            page = browser.new_page()
            console: list[str] = []
            page.on("console", lambda message: console.append(message.text))
            page.goto(f"{base}/")
            page.fill("#q", "headphones")
            page.press("#q", "Enter")
            page.wait_for_selector(".offer", timeout=20_000)
            noon_while_offers_shown = page.inner_text('.site[data-site="noon"]')
            page.wait_for_selector('.site[data-site="noon"].failed', timeout=20_000)
            noon_at_end = page.inner_text('.site[data-site="noon"]')
            page.wait_for_selector('.site[data-site="amazon"].done', timeout=20_000)
            prices = [
                float(p) for p in page.eval_on_selector_all(".offer", "els => els.map(e => e.dataset.price)")
            ]
            sites = set(page.eval_on_selector_all(".offer .source", "els => els.map(e => e.textContent)"))
            # One row per product (issue 21): count the offers in the rows.
            shown = sum(
                map(int, page.eval_on_selector_all(".offer", "els => els.map(e => e.dataset.offers)"))
            )
        finally:
            browser.close()
    assert not [text for text in console if "Content Security Policy" in text], console
    assert noon_while_offers_shown == "noon: searching"
    assert noon_at_end == "noon: failed (timeout)"
    assert sites == {"amazon"}
    assert shown == len(expected("headphones")["amazon"])
    assert prices == sorted(prices)
