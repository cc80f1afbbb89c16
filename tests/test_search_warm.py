"""Warm crawlers end to end: real ``scrapy crawl amazon -a warm=1`` processes, real Redis, the sandbox."""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import slow_items
import test_spider_noon
from test_spider_amazon import expected_offers
from warm_crawlers import ended, entry_time, stream, wait_for, warm_crawler

from looqta.search import contract, queue
from looqta.search.contract import SearchJob

if TYPE_CHECKING:
    import redis

    from looqta.sandbox.client import SandboxProcess

SEARCH_TIMEOUT_SECONDS = 90.0


def test_a_search_runs_through_the_site_spider_and_streams_its_offers(
    clean_sandbox: SandboxProcess, redis_client: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    base = clean_sandbox.url("amazon")
    with warm_crawler("amazon", base, redis_client, redis_url, tmp_path / "crawler.log"):
        searches = [SearchJob.new("iphone", "amazon", max_pages=2) for _ in range(2)]
        for job in searches:  # the same query twice: each search gets every offer (no crawl-wide dedup)
            queue.push(redis_client, job)
        for job in searches:
            entries = [
                e for _, e in wait_for(lambda j=job: ended(redis_client, j.search_id), 60, "site-done")
            ]
            offers, end = contract.site_results(entries, "amazon")
            assert entries[0].event == "site-started"
            assert end is not None
            assert end.event == "site-done"
            assert {o["source_id"] for o in offers} == set(expected_offers("iphone", 2))
            assert len(offers) == len({o["source_id"] for o in offers}) == end.data["count"]
            assert all(o["job"] == "manual" and o["source"] == "amazon" for o in offers)
        assert redis_client.keys("looqta:search:amazon:processing:*") == []  # nothing left taken


def test_noon_and_amazon_with_product_pages_warm_side_by_side(
    clean_sandbox: SandboxProcess, redis_client: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    noon_job = SearchJob.new("iphone", "noon", max_pages=2)
    amazon_job = SearchJob.new("iphone 15 pro max", "amazon", max_pages=1, details=True)
    with (
        warm_crawler("noon", clean_sandbox.url("noon"), redis_client, redis_url, tmp_path / "noon.log"),
        warm_crawler("amazon", clean_sandbox.url("amazon"), redis_client, redis_url, tmp_path / "amazon.log"),
    ):
        queue.push(redis_client, noon_job)
        queue.push(redis_client, amazon_job)
        noon_entries = wait_for(lambda: ended(redis_client, noon_job.search_id), 60, "noon done")
        amazon_entries = wait_for(lambda: ended(redis_client, amazon_job.search_id), 60, "amazon done")
    noon_offers, noon_end = contract.site_results([e for _, e in noon_entries], "noon")
    assert noon_end is not None
    assert noon_end.event == "site-done"
    assert {o["source_id"] for o in noon_offers} == set(test_spider_noon.expected_offers("iphone", 2))
    amazon_offers, amazon_end = contract.site_results([e for _, e in amazon_entries], "amazon")
    assert amazon_end is not None
    assert amazon_end.event == "site-done"
    assert {o["source_id"] for o in amazon_offers} == set(expected_offers("iphone 15 pro max", 1))
    assert all(o["availability"] == "in_stock" for o in amazon_offers)  # read from the product pages
    # Every offer's product page read (test_a_page_is_fetched_once_per_search... counts them).
    product_pages = {r["path_qs"] for r in clean_sandbox.requests("amazon") if "/dp/" in r["path_qs"]}
    assert product_pages == {f"/dp/{o['source_id']}" for o in amazon_offers}


def test_a_crawler_killed_mid_search_loses_nothing_and_no_search_runs_twice(
    clean_sandbox: SandboxProcess, redis_client: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    base = clean_sandbox.url("amazon")
    clean_sandbox.set_faults("amazon", latency_ms=800, path_prefix="/s")
    job = SearchJob.new("iphone", "amazon", max_pages=3)
    with (
        warm_crawler("amazon", base, redis_client, redis_url, tmp_path / "a.log") as a,
        warm_crawler("amazon", base, redis_client, redis_url, tmp_path / "b.log") as b,
    ):
        queue.push(redis_client, job)  # two live crawlers share the queue: one of them takes it
        # Mid-search: page 1's offers are in the stream, pages 2 and 3 are not read yet.
        wait_for(
            lambda: any(e.event == "offer" for _, e in stream(redis_client, job.search_id)), 30, "offers"
        )
        [taker] = [
            e.data["crawler"] for _, e in stream(redis_client, job.search_id) if e.event == "site-started"
        ]
        killed, survivor = (a, b) if f"-{a.pid}-" in taker else (b, a)
        assert f"-{killed.pid}-" in taker
        killed.send_signal(signal.SIGKILL)
        killed.wait(10)
        killed_at = time.time()
        assert not ended(redis_client, job.search_id)
        entries = wait_for(lambda: ended(redis_client, job.search_id), SEARCH_TIMEOUT_SECONDS, "site-done")
        assert survivor.poll() is None
    starts = [(entry_id, e) for entry_id, e in entries if e.event == "site-started"]
    assert [e.data["attempt"] for _, e in starts] == [0, 1]  # run once by each, never by both at once
    assert f"-{survivor.pid}-" in starts[1][1].data["crawler"]
    assert entry_time(starts[1][0]) >= killed_at - 0.01  # delivered again only once the taker was dead
    offers, end = contract.site_results([e for _, e in entries], "amazon")
    assert end is not None
    assert end.event == "site-done"
    assert [e.event for _, e in entries].count("site-done") == 1
    assert {o["source_id"] for o in offers} == set(expected_offers("iphone", 3))
    assert redis_client.llen(contract.queue_key("amazon", "manual")) == 0
    assert redis_client.keys("looqta:search:amazon:processing:*") == []


@pytest.mark.serial  # the manual search must start within one page time (1 s)
def test_a_manual_search_during_bulk_work_starts_within_one_page_time(
    clean_sandbox: SandboxProcess, redis_client: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    page_seconds = 1.0
    clean_sandbox.set_faults("amazon", latency_ms=int(page_seconds * 1000), path_prefix="/s")
    settings = {"LOOQTA_WARM_MAX_BULK_SEARCHES": 2}
    with warm_crawler(
        "amazon", clean_sandbox.url("amazon"), redis_client, redis_url, tmp_path / "c.log", settings
    ):
        bulk = [SearchJob.new("iphone", "amazon", kind="bulk", max_pages=4) for _ in range(4)]
        for job in bulk:
            queue.push(redis_client, job)
        wait_for(lambda: len(clean_sandbox.requests("amazon")) >= 2, 30, "bulk pages fetched")
        manual = SearchJob.new("iphone 15 pro max", "amazon", max_pages=1)
        pushed_at = time.time()
        queue.push(redis_client, manual)
        entries = wait_for(lambda: ended(redis_client, manual.search_id), 60, "the manual search done")
        manual_requests = [
            r for r in clean_sandbox.requests("amazon") if "k=iphone+15+pro+max" in r["path_qs"]
        ]
        queued_bulk = redis_client.llen(contract.queue_key("amazon", "bulk"))
    # The request log stamps a request when it is answered, after the injected page time.
    first_started = min(r["t"] for r in manual_requests) - page_seconds
    assert first_started - pushed_at < page_seconds, first_started - pushed_at
    assert queued_bulk >= 1  # bulk work was still waiting: the manual search went ahead of it
    offers, end = contract.site_results([e for _, e in entries], "amazon")
    assert end is not None
    assert end.event == "site-done"
    assert {o["source_id"] for o in offers} == set(expected_offers("iphone 15 pro max", 1))


def test_a_site_that_blocks_every_request_is_reported_failed_and_the_crawler_stays_up(
    clean_sandbox: SandboxProcess, redis_client: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    clean_sandbox.set_faults("amazon", blocks={"captcha": 1.0})
    settings = {"LOOQTA_BLOCKS_MAX_RETRIES": 1}
    base = clean_sandbox.url("amazon")
    with warm_crawler("amazon", base, redis_client, redis_url, tmp_path / "c.log", settings) as crawler:
        blocked = SearchJob.new("iphone", "amazon", max_pages=1)
        queue.push(redis_client, blocked)
        entries = [e for _, e in wait_for(lambda: ended(redis_client, blocked.search_id), 60, "site-failed")]
        assert entries[-1] == contract.site_failed("amazon", "blocked", "1 requests failed")
        clean_sandbox.clear_faults()
        after = SearchJob.new("iphone", "amazon", max_pages=1)  # the same crawler takes the next search
        queue.push(redis_client, after)
        offers, end = contract.site_results(
            [e for _, e in wait_for(lambda: ended(redis_client, after.search_id), 60, "site-done")], "amazon"
        )
        assert crawler.poll() is None
    assert end is not None
    assert end.event == "site-done"
    assert {o["source_id"] for o in offers} == set(expected_offers("iphone", 1))


def test_a_page_is_fetched_once_per_search_and_again_in_the_next_search(
    clean_sandbox: SandboxProcess, redis_client: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    query = "iphone 15 pro max"  # its results list a sponsored repeat of an organic result
    base = clean_sandbox.url("amazon")
    with warm_crawler("amazon", base, redis_client, redis_url, tmp_path / "crawler.log"):
        offers_per_search = []
        for _ in range(2):  # one after the other: the second search fetches every page again
            job = SearchJob.new(query, "amazon", max_pages=1, details=True)
            queue.push(redis_client, job)
            entries = [e for _, e in wait_for(lambda j=job: ended(redis_client, j.search_id), 60, "done")]
            offers, end = contract.site_results(entries, "amazon")
            assert end is not None
            assert end.event == "site-done"
            offers_per_search.append({o["source_id"] for o in offers})
    assert offers_per_search[0] == offers_per_search[1] == set(expected_offers(query, 1))
    fetched = Counter(r["path_qs"] for r in clean_sandbox.requests("amazon"))
    product_pages = {path: n for path, n in fetched.items() if path.startswith("/dp/")}
    assert set(product_pages) == {f"/dp/{source_id}" for source_id in offers_per_search[0]}
    assert set(product_pages.values()) == {2}, product_pages  # once in each search, never twice in one
    assert [n for path, n in fetched.items() if path.startswith("/s?")] == [2]


def test_an_idle_crawler_takes_a_pushed_search_at_once_not_at_its_next_poll(
    clean_sandbox: SandboxProcess, redis_client: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    poll_seconds = 5.0  # only the push's wake-up can make it sooner
    settings = {"LOOQTA_WARM_POLL_INTERVAL_SECONDS": poll_seconds}
    base = clean_sandbox.url("amazon")
    waits = []
    with warm_crawler("amazon", base, redis_client, redis_url, tmp_path / "c.log", settings):
        for _ in range(3):
            job = SearchJob.new("iphone", "amazon", max_pages=1)
            pushed_at = time.time()
            queue.push(redis_client, job)
            entries = wait_for(lambda j=job: ended(redis_client, j.search_id), 30, "done")
            [started] = [entry_id for entry_id, e in entries if e.event == "site-started"]
            waits.append(entry_time(started) - pushed_at)
    assert max(waits) < 0.5, waits  # polling alone: up to 5 s each


def test_an_offer_is_streamed_once_validated_not_when_later_pipelines_are_done(
    clean_sandbox: SandboxProcess, redis_client: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    pipelines = {
        "looqta.pipelines.validate.ValidationPipeline": 100,
        "looqta.pipelines.dedup.DedupPipeline": 150,
        "slow_items.SlowItemsPipeline": 500,  # as the store and files pipelines may take, and more
    }
    base = clean_sandbox.url("amazon")
    tests = Path(__file__).parent
    settings = {"ITEM_PIPELINES": pipelines}
    with warm_crawler("amazon", base, redis_client, redis_url, tmp_path / "c.log", settings, (tests,)):
        job = SearchJob.new("iphone", "amazon", max_pages=1)
        queue.push(redis_client, job)
        entries = wait_for(lambda: ended(redis_client, job.search_id), 60, "site-done")
    times = {e.event: entry_time(i) for i, e in reversed(entries)}  # each event's first entry
    assert times["offer"] - times["site-started"] < slow_items.HOLD_SECONDS / 2, times
    assert times["site-done"] - times["site-started"] >= slow_items.HOLD_SECONDS, times  # done waits
    offers, end = contract.site_results([e for _, e in entries], "amazon")
    assert end is not None
    assert end.event == "site-done"
    assert end.data["count"] == len(offers)
    assert sorted(o["source_id"] for o in offers) == sorted(expected_offers("iphone", 1))  # each once
