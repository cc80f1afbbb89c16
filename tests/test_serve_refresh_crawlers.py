"""The background refresh end to end: the service (uvicorn), redis-server, warm crawler processes
and the sandbox. The interval is seconds; each crawler runs one bulk search at a time, so the
refresher's second search waits in the queue while its first runs."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import crawling
import httpx
import pytest
from serving import read_sse, running_service
from warm_crawlers import WARM_TEST_SETTINGS, entry_time, stream, wait_for

from looqta.redisstore.config import RedisConfig
from looqta.search import contract
from looqta.serve import cache
from looqta.serve.config import ServeConfig
from looqta.serve.query import query_key
from looqta.serve.sandboxed import warm_crawlers

if TYPE_CHECKING:
    from collections.abc import Iterator

    import redis

    from looqta.sandbox.client import SandboxProcess

SITES = ("amazon", "noon")
PAGE_MS = 3000
INTERVAL_SECONDS = 9.0
#: Asked first and once: never among the top 3 (nor is the shopper's query, asked once later).
ASKS = [("speaker", 1), ("tv", 6), ("camera", 5), ("watch", 4)]


@pytest.fixture(scope="module")
def one_bulk_search_crawlers(
    sandbox: SandboxProcess, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    settings = {**WARM_TEST_SETTINGS, "LOOQTA_WARM_MAX_BULK_SEARCHES": 1}
    log_dir = tmp_path_factory.mktemp("refresh-crawlers")
    with warm_crawlers(SITES, sandbox.urls, redis_url, log_dir, settings, crawling.crawl_env()):
        yield


class BulkWatch(threading.Thread):
    """Samples the bulk jobs queued and being crawled (every crawler's processing list) every 20 ms."""

    def __init__(self, client: redis.Redis) -> None:
        super().__init__(daemon=True)
        self.client = client
        self.most_at_once = 0
        self.waiting: list[contract.SearchJob] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            waiting = [
                contract.SearchJob.decode(raw)
                for site in SITES
                for raw in self.client.lrange(contract.queue_key(site, "bulk"), 0, -1)
            ]
            taken = [
                contract.SearchJob.decode(raw)
                for key in self.client.scan_iter(f"{contract.KEY_PREFIX}:*:processing:*")
                for raw in self.client.lrange(key, 0, -1)
            ]
            ids = {job.search_id for job in waiting + taken if job.kind == "bulk"}
            self.most_at_once = max(self.most_at_once, len(ids))
            running = {(job.site, job.search_id) for job in taken if job.kind == "bulk"}
            # Queued behind another bulk search of its site (not just pushed and about to be taken).
            self.waiting = [
                job
                for job in waiting
                if any(site == job.site and sid != job.search_id for site, sid in running)
            ]
            time.sleep(0.02)


def cached(client: redis.Redis, query: str) -> cache.CachedSearch | None:
    raw = client.get(cache.cache_key(query_key(query)))
    return None if raw is None else cache.CachedSearch.decode(raw)


@pytest.mark.serial  # the shopper's search must start within one page time (3 s)
def test_the_most_asked_queries_are_refreshed_as_bulk_searches_two_at_once_behind_a_shopper(
    one_bulk_search_crawlers: None, redis_url: str, redis_client: redis.Redis, clean_sandbox: SandboxProcess
) -> None:
    config = ServeConfig(
        redis=RedisConfig(url=redis_url),
        sites=SITES,
        max_pages=1,
        site_timeout_seconds=30.0,
        heartbeat_seconds=0.5,
        cache_seconds=600.0,
        refresh_interval_seconds=INTERVAL_SECONDS,
        refresh_concurrency=2,
        refresh_top=3,
    )
    watch = BulkWatch(redis_client)
    # Asked early in a window of asks (looqta/serve/asks.py): their counts fade only in the next one.
    wait_for(lambda: time.time() % INTERVAL_SECONDS < 1.0, INTERVAL_SECONDS + 1, "a window's start")
    with running_service(config) as base:
        for query, times in ASKS:
            for _ in range(times):
                answer = httpx.get(f"{base}/api/search.json", params={"q": query}, timeout=60)
                assert answer.status_code == 200
        before = {query: cached(redis_client, query) for query, _ in ASKS}
        assert all(before.values())
        clean_sandbox.set_faults("amazon", latency_ms=PAGE_MS)
        clean_sandbox.set_faults("noon", latency_ms=PAGE_MS)
        watch.start()
        # The refresher's second search waits while each crawler runs its first.
        wait_for(lambda: watch.waiting, INTERVAL_SECONDS + 20, "a refresh waiting in the bulk queue")
        queued_refresh = watch.waiting[0].search_id
        asked_at = time.time()
        shopper = read_sse(base, "laptop")
        wait_for(
            lambda: all(
                (now := cached(redis_client, q)) and now.search_id != before[q].search_id
                for q in ("tv", "camera", "watch")
            ),
            60,
            "the top 3 refreshed",
        )
        status = wait_for(lambda: refreshed(base, {"tv", "camera", "watch"}), 10, "the outcomes logged")
        health = httpx.get(f"{base}/healthz", timeout=10).json()
    watch.stopped.set()
    watch.join(5)

    assert watch.most_at_once == 2  # the concurrency, reached and never passed
    shopper_started = started_at(redis_client, shopper.named("search")[0].data["id"])
    refresh_started = started_at(redis_client, queued_refresh)
    for site in SITES:
        # Pushed while the refresh waited, taken ahead of it, within one page time.
        assert shopper_started[site] < refresh_started[site]
        assert shopper_started[site] - asked_at < PAGE_MS / 1000
    assert {o["site"] for o in shopper.offers()} == set(SITES)
    for query in ("tv", "camera", "watch"):
        now = cached(redis_client, query)
        assert now is not None
        assert now.finished_at > before[query].finished_at + INTERVAL_SECONDS
        assert [e[1] for e in now.entries].count("site-done") == len(SITES)
    assert cached(redis_client, "speaker") == before["speaker"]  # not among the most asked
    outcomes = {(r["query"], r["outcome"]) for r in status["recent"]}
    assert {("tv", "refreshed"), ("camera", "refreshed"), ("watch", "refreshed")} <= outcomes
    assert health["refresh"]["refresher"] == status["refresher"] == status["this_process"]


def refreshed(base: str, queries: set[str]) -> dict | None:
    """``/api/refresh`` once it reports each of ``queries`` refreshed."""
    status = httpx.get(f"{base}/api/refresh", timeout=10).json()
    done = {r["query"] for r in status["recent"] if r["outcome"] == "refreshed"}
    return status if queries <= done else None


def started_at(client: redis.Redis, search_id: str) -> dict[str, float]:
    """When each site's (last) ``site-started`` of the search was written."""
    return {e.site: entry_time(i) for i, e in stream(client, search_id) if e.event == "site-started"}
