"""A warm crawler stopped on purpose: its run is not failed, and its searches go back uncounted."""

from __future__ import annotations

import json
import signal
from typing import TYPE_CHECKING, Any

from test_spider_amazon import expected_offers
from warm_crawlers import ended, stream, wait_for, warm_crawler

from looqta.health.checks import WARM_CRAWL_STAT, evaluate, failed
from looqta.health.config import HealthConfig
from looqta.search import contract, queue
from looqta.search.contract import SearchJob

if TYPE_CHECKING:
    from pathlib import Path

    import redis

    from looqta.sandbox.client import SandboxProcess

GOOD_ITEMS: dict[str, Any] = {
    "item_scraped_count": 10,
    "spidermon_item_scraped_count": 10,
    **{
        f"spidermon_item_scraped_count/ProductItem/{name}": 10
        for name in ("source_id", "title", "price", "currency", "rating")
    },
}


def failed_checks(stats: dict[str, Any]) -> list[str]:
    return [check.name for check in failed(evaluate(stats, HealthConfig()))]


def test_a_warm_crawler_stopped_on_purpose_is_healthy_and_a_one_off_crawl_stopped_is_not() -> None:
    warm = {WARM_CRAWL_STAT: 1, "looqta/search/taken/manual": 3, "finish_reason": "shutdown"}
    assert failed_checks({**warm, **GOOD_ITEMS}) == []
    assert failed_checks({**GOOD_ITEMS, "finish_reason": "shutdown"}) == ["finish_reason"]
    # Nobody gave it a search: nothing to count. Searches that found nothing still fail.
    assert failed_checks({WARM_CRAWL_STAT: 1, "finish_reason": "shutdown"}) == []
    assert failed_checks(warm) == ["item_count"]
    # Other endings of a warm crawler are still failures.
    assert failed_checks({**warm, **GOOD_ITEMS, "finish_reason": "warm_task_failed"}) == ["finish_reason"]


def test_clean_stops_hand_a_search_back_uncounted_and_a_crash_still_counts(
    clean_sandbox: SandboxProcess, redis_client: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    """max_attempts 2: two clean stops and a crash mid-search, and the search still finishes."""
    clean_sandbox.set_faults("amazon", latency_ms=800, path_prefix="/s")
    base = clean_sandbox.url("amazon")
    job = SearchJob.new("iphone", "amazon", max_pages=3)
    queue.push(redis_client, job)
    manual = contract.queue_key("amazon", "manual")

    def starts() -> list[contract.StreamEntry]:
        return [e for _, e in stream(redis_client, job.search_id) if e.event == "site-started"]

    def run_until_an_offer(name: str, stop: signal.Signals) -> Path:
        stats = tmp_path / f"{name}.stats.json"
        settings = {"LOOQTA_WARM_MAX_ATTEMPTS": 2, "LOOQTA_STATS_FILE": str(stats)}
        taken = len(starts())
        with warm_crawler("amazon", base, redis_client, redis_url, tmp_path / f"{name}.log", settings) as p:
            wait_for(lambda: len(starts()) > taken, 30, f"{name} took the search")
            seen = len([e for _, e in stream(redis_client, job.search_id) if e.event == "offer"])
            wait_for(
                lambda: len([e for _, e in stream(redis_client, job.search_id) if e.event == "offer"]) > seen,
                30,
                f"{name}'s first offers",
            )
            p.send_signal(stop)
            p.wait(30)
        assert not ended(redis_client, job.search_id)  # mid-search: pages 2 and 3 not read
        return stats

    for name in ("a", "b"):
        stats = run_until_an_offer(name, signal.SIGTERM)
        [back] = redis_client.lrange(manual, 0, -1)  # handed back at once, its delivery not counted
        assert SearchJob.decode(back).attempt == 0
        health = json.loads(stats.read_text())
        assert health["finish_reason"] == "shutdown"
        assert health["looqta/health/ok"] is True, health.get("looqta/health/summary")
    run_until_an_offer("c", signal.SIGKILL)  # a crash: its lease runs out, the next crawler requeues it
    with warm_crawler(
        "amazon", base, redis_client, redis_url, tmp_path / "d.log", {"LOOQTA_WARM_MAX_ATTEMPTS": 2}
    ):
        entries = wait_for(lambda: ended(redis_client, job.search_id), 90, "the search ended")
    assert [e.data["attempt"] for e in starts()] == [0, 0, 0, 1]
    offers, end = contract.site_results([e for _, e in entries], "amazon")
    assert end is not None
    assert end.event == "site-done", end
    assert {o["source_id"] for o in offers} == set(expected_offers("iphone", 3))
    assert redis_client.llen(manual) == 0
