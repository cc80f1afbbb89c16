"""Cache hits from encoded answers: the same answer as before, decoded once per search and process,
and never older than Redis' copy when another service process caches the query again."""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

import httpx
import redis.asyncio
from serving import read_sse, running_service

from looqta.redisstore.config import RedisConfig
from looqta.serve import cache
from looqta.serve.answers import Answer
from looqta.serve.cache import CachedSearch
from looqta.serve.config import ServeConfig
from looqta.serve.query import query_key
from looqta.serve.results import document, event_data, site_summary

if TYPE_CHECKING:
    import pytest
    import redis as sync_redis

SITES = ("amazon", "noon")


def entries(search_id: str, prices: tuple[str, ...]) -> list[cache.Entry]:
    """A finished search: both sites started, an offer per price (amazon delivered twice), both done."""
    out: list[cache.Entry] = [
        ("1-0", "site-started", "amazon", {"attempt": 0, "crawler": "a"}),
        ("1-1", "offer", "amazon", {"source_id": "dropped", "price": "9.99", "title": "an earlier delivery"}),
        ("2-0", "site-started", "amazon", {"attempt": 1, "crawler": "b"}),
        ("2-1", "site-started", "noon", {"attempt": 0, "crawler": "c"}),
    ]
    for number, price in enumerate(prices):
        site = SITES[number % 2]
        title = f"Ünïcode “{search_id}” {number}"
        out.append(
            (
                f"3-{number}",
                "offer",
                site,
                {"source_id": f"{search_id}-{number}", "price": price, "title": title},
            )
        )
    out += [
        ("4-0", "site-done", "amazon", {"count": 2, "seconds": 0.4}),
        ("4-1", "site-failed", "noon", {"reason": "timeout", "detail": "x"}),
    ]
    return out


async def store(redis_url: str, query: str, search_id: str, prices: tuple[str, ...]) -> None:
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        kept = CachedSearch(search_id, query, time.time(), entries(search_id, prices))
        await cache.store(client, query_key(query), kept, 600)
    finally:
        await client.aclose()


def config(redis_url: str) -> ServeConfig:
    return ServeConfig(
        redis=RedisConfig(url=redis_url), sites=SITES, heartbeat_seconds=0.5, site_timeout_seconds=1.0
    )


def test_an_encoded_answer_is_the_document_and_events_the_replay_made() -> None:
    kept = CachedSearch("s1", "tv", 5.0, entries("s1", ("1.50", "2.25", "3.00")))
    answer = Answer.of(kept)
    replayed = [(event, event_data(event, site, data)) for _, event, site, data in kept.entries]
    head = {"id": "s1", "query": "tv", "cache": "stale"}
    assert json.loads(answer.search_json("stale")) == document([("search", head), *replayed])
    body = answer.sse("stale").decode()
    blocks = [dict(line.split(": ", 1) for line in block.split("\n")) for block in body.strip().split("\n\n")]
    assert [b["event"] for b in blocks] == ["search", *(e for _, e, _, _ in kept.entries), "done"]
    assert [b.get("id") for b in blocks[1:-1]] == [entry_id for entry_id, *_ in kept.entries]
    assert json.loads(blocks[0]["data"]) == head
    assert [json.loads(b["data"]) for b in blocks[1:-1]] == [data for _, data in replayed]
    assert json.loads(blocks[-1]["data"]) == {"id": "s1", "sites": site_summary(replayed)}


def test_hits_decode_once_and_see_another_process_cache_the_query_again(
    redis_client: sync_redis.Redis, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[str] = []
    original = CachedSearch.decode.__func__  # type: ignore[attr-defined]

    def counting(cls: type[CachedSearch], raw: str | bytes) -> CachedSearch:
        found = original(cls, raw)
        decoded.append(found.search_id)
        return found

    monkeypatch.setattr(CachedSearch, "decode", classmethod(counting))
    asyncio.run(store(redis_url, "tv", "first", ("1.50", "2.25")))
    with running_service(config(redis_url)) as one, running_service(config(redis_url)) as two:

        def hit(base: str) -> dict[str, Any]:
            response = httpx.get(f"{base}/api/search.json", params={"q": "TV "})
            assert response.status_code == 200
            assert response.headers["content-type"] == "application/json"
            return response.json()

        for _ in range(20):
            assert hit(one)["search"] == {"id": "first", "query": "tv", "cache": "hit"}
        assert [o["price"] for o in hit(two)["offers"]] == ["1.50", "2.25"]
        assert decoded == ["first", "first"]  # once per service, not once per hit
        asyncio.run(store(redis_url, "tv", "second", ("7.00",)))  # as the other process's finisher does
        again = hit(one)
        assert again["search"]["id"] == "second"
        assert [o["price"] for o in again["offers"]] == ["7.00"]
        read = read_sse(two, "tv")
        assert read.named("search")[0].data["id"] == "second"
        assert [o["price"] for o in read.offers()] == ["9.99", "7.00"]  # 9.99: the delivery replaced
        assert read.named("done")[0].data["sites"]["noon"]["status"] == "failed"
        redis_client.delete(cache.cache_key(query_key("tv")), cache.version_key(query_key("tv")))
        assert hit(one)["search"]["cache"] == "miss"  # gone from Redis: gone here too


def test_a_cached_answer_carries_the_match_events_and_products_a_live_search_would() -> None:
    """One phone on both sites (the same GTIN, the same title) and an unrelated offer: the cached
    answer's SSE has the match event after the offer that joined, and search.json its product."""
    phone = {"title": "Apple iPhone 15 128GB Black", "gtin": "0195949036071"}
    kept = CachedSearch(
        "s",
        "iphone",
        time.time(),
        [
            ("1-0", "site-started", "amazon", {"attempt": 0, "crawler": "a"}),
            ("1-1", "site-started", "noon", {"attempt": 0, "crawler": "b"}),
            ("2-0", "offer", "amazon", {"source_id": "A1", "price": "3199.00", **phone}),
            ("2-1", "offer", "noon", {"source_id": "N9", "price": "99.00", "title": "Garmin Forerunner 265"}),
            ("2-2", "offer", "noon", {"source_id": "N1", "price": "2949.00", **phone}),
            ("3-0", "site-done", "amazon", {"count": 1, "seconds": 0.4}),
            ("3-1", "site-done", "noon", {"count": 2, "seconds": 0.9}),
        ],
    )
    answer = Answer.of(kept)
    names = [
        line.split(": ", 1)[1]
        for line in answer.sse("hit").decode().splitlines()
        if line.startswith("event: ")
    ]
    assert names == [
        "search",
        "site-started",
        "site-started",
        "offer",
        "offer",
        "offer",
        "match",
        "site-done",
        "site-done",
        "done",
    ]
    whole = json.loads(answer.search_json("hit"))
    [product] = whole["products"]
    assert sorted(product["offers"]) == ["amazon:A1", "noon:N1"]
    assert product["cheapest"]["key"] == "noon:N1"
