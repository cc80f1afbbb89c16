"""The background refresh's rounds on a real redis-server, with the real coordinator (no crawlers:
the jobs it pushes stay in the queue, and a search is ended by writing its sites' endings)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

import redis.asyncio

from looqta.search import contract, queue
from looqta.serve import asks, cache
from looqta.serve.config import ServeConfig
from looqta.serve.coordinator import IN_FLIGHT_KEY, SearchCoordinator, running_key
from looqta.serve.query import query_key
from looqta.serve.refresh import RECENT_KEY, Refresher

if TYPE_CHECKING:
    import redis as sync_redis

    from looqta.redisstore.config import RedisConfig

SITES = ("amazon", "noon")
INTERVAL = 60.0


def config_for(redis_config: RedisConfig, **fields: Any) -> ServeConfig:
    values: dict[str, Any] = {
        "sites": SITES,
        "refresh_interval_seconds": INTERVAL,
        "refresh_concurrency": 2,
        "refresh_top": 5,
        **fields,
    }
    return ServeConfig(redis=redis_config, **values)


def queued_bulk(client: sync_redis.Redis) -> dict[str, list[contract.SearchJob]]:
    """The bulk jobs waiting, by query."""
    jobs = [
        contract.SearchJob.decode(raw)
        for site in SITES
        for raw in client.lrange(contract.queue_key(site, "bulk"), 0, -1)
    ]
    by_query: dict[str, list[contract.SearchJob]] = {}
    for job in jobs:
        by_query.setdefault(job.query, []).append(job)
    return by_query


async def ask(client: Any, query: str, times: int) -> None:
    for _ in range(times):
        await asks.count(client, query, time.time(), INTERVAL)


async def cache_search(client: Any, query: str, finished_ago: float) -> None:
    entries = [("1-0", "site-done", "amazon", {"count": 0, "seconds": 1.0})]
    kept = cache.CachedSearch(f"old-{query}", query, time.time() - finished_ago, entries)
    await cache.store(client, query_key(query), kept, 3600)


async def end_search(client: Any, search_id: str) -> None:
    for site in SITES:
        await queue.append(client, search_id, contract.site_done(site, 0, 0.1))


async def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    """Poll ``predicate`` (on the blocking client) while the loop runs the coordinator's finishers."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "still not true"
        await asyncio.sleep(0.05)


def test_rounds_refresh_the_most_asked_due_queries_as_bulk_searches_at_most_two_at_once(
    redis_config: RedisConfig, redis_client: sync_redis.Redis
) -> None:
    async def scenario() -> None:
        client = redis.asyncio.Redis.from_url(redis_config.url)
        config = config_for(redis_config)
        coordinator = SearchCoordinator(config, client)
        refresher = Refresher(config, client, coordinator)
        try:
            for query, times, cached_ago in [
                ("Speaker", 9, 2 * INTERVAL),  # a shopper's search of it runs now
                ("laptop", 8, INTERVAL / 2),  # fresh
                ("TV", 7, 2 * INTERVAL),
                ("camera", 6, 3 * INTERVAL),
                ("phone", 5, INTERVAL),
                ("watch", 4, 5 * INTERVAL),  # due, but not in the top 5
            ]:
                await ask(client, query, times)
                await cache_search(client, query, cached_ago)
            # What a shopper's miss starts (its cache entry is old but kept: this is the same path).
            shopper = await coordinator.start("speaker", query_key("speaker"), "manual")
            assert await client.exists(running_key(query_key("speaker")))
            started = await refresher.round()
            assert len(started) == 2
            manual = {
                contract.SearchJob.decode(raw).query
                for raw in redis_client.lrange("looqta:search:amazon:manual", 0, -1)
            }
            assert manual == {"speaker"}  # the shopper's only: refreshes are bulk
            assert set(queued_bulk(redis_client)) == {"TV", "camera"}  # most asked first, as cached
            assert all(len(jobs) == len(SITES) for jobs in queued_bulk(redis_client).values())
            assert await refresher.round() == []  # two run: none more

            tv = queued_bulk(redis_client)["TV"][0].search_id
            await end_search(client, tv)  # the finisher replaces TV's cache entry and frees its place
            await wait_until(lambda: redis_client.exists(running_key(query_key("tv"))) == 0)
            [phone] = await refresher.round()
            assert set(queued_bulk(redis_client)) == {"TV", "camera", "phone"}
            assert (await cache.load(client, query_key("tv"))).search_id == tv
            status = await refresher.status()
            assert status["refresher"] == refresher.holder
            assert [(r["query"], r["outcome"]) for r in status["recent"]] == [("TV", "refreshed")]
            assert sorted(r["query"] for r in status["running"]) == ["camera", "phone"]
            assert phone in {r["search_id"] for r in status["running"]}
            # TV was just refreshed: not due again for an interval.
            assert "TV" not in {r["query"] for r in status["running"]}
            await end_search(client, shopper.search_id)
        finally:
            await coordinator.close()
            await client.aclose()

    asyncio.run(scenario())


def test_one_refresher_at_a_time_across_service_processes(
    redis_config: RedisConfig, redis_client: sync_redis.Redis
) -> None:
    async def scenario() -> None:
        client = redis.asyncio.Redis.from_url(redis_config.url)
        config = config_for(redis_config, refresh_concurrency=1)
        coordinator = SearchCoordinator(config, client)
        first, second = Refresher(config, client, coordinator), Refresher(config, client, coordinator)
        try:
            for query in ("tv", "camera"):
                await ask(client, query, 2)
                await cache_search(client, query, 2 * INTERVAL)
            assert len(await first.round()) == 1
            await end_search(client, next(iter(queued_bulk(redis_client).values()))[0].search_id)
            await wait_until(lambda: redis_client.zcard(IN_FLIGHT_KEY) == 0)
            assert await second.round() == []  # the first holds the lock
            assert (await second.status())["refresher"] == first.holder
            first.start()
            await first.stop()  # a service shutting down hands the lock back
            assert len(await second.round()) == 1
            assert (await first.status())["refresher"] == second.holder
        finally:
            await coordinator.close()
            await client.aclose()

    asyncio.run(scenario())


def test_refreshes_leave_the_upper_half_of_the_in_flight_places_to_shoppers(
    redis_config: RedisConfig, redis_client: sync_redis.Redis
) -> None:
    async def scenario() -> None:
        client = redis.asyncio.Redis.from_url(redis_config.url)
        config = config_for(redis_config, max_in_flight=4)
        coordinator = SearchCoordinator(config, client)
        refresher = Refresher(config, client, coordinator)
        try:
            await ask(client, "tv", 3)
            await cache_search(client, "tv", 2 * INTERVAL)
            shoppers = [await coordinator.open(q) for q in ("drone", "kettle")]
            assert await refresher.round() == []
            assert queued_bulk(redis_client) == {}
            await end_search(client, shoppers[0].search_id)
            await wait_until(lambda: redis_client.zcard(IN_FLIGHT_KEY) == 1)
            assert len(await refresher.round()) == 1
            assert set(queued_bulk(redis_client)) == {"tv"}
            assert json.loads(redis_client.lindex(RECENT_KEY, 0) or "null") is None
        finally:
            await coordinator.close()
            await client.aclose()

    asyncio.run(scenario())
