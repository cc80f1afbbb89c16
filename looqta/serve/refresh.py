"""The background refresh: the most-asked queries searched again, as bulk jobs, every interval.

One service process at a time refreshes (a Redis lock with a TTL, renewed every round; another
process takes over once a dead holder's lock expired). Each round (collect → decide → act):
what finished since the last round is logged as an outcome; the top ``LOOQTA_REFRESH_TOP`` asked
queries (looqta/serve/asks.py) with their cache entries are read; :func:`due` picks those whose
cached search (or last refresh) is at least the interval old and for which no search runs; and
each is started through the coordinator as a **bulk** search, so the crawlers take every
shopper's (manual) search first and the finisher replaces the cache entry as for any search.
At most ``LOOQTA_REFRESH_CONCURRENCY`` refreshes run at once, and only while fewer than half the
service's in-flight places are taken (the rest is the shoppers'). Everything the rounds share is
in Redis, so any service process reports the same status (``status``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis

from looqta.search.contract import KEY_PREFIX
from looqta.serve import asks, cache
from looqta.serve.coordinator import IN_FLIGHT_KEY, Overloaded, running_key
from looqta.serve.query import query_key

if TYPE_CHECKING:
    from collections.abc import Callable

    from looqta.serve.config import ServeConfig
    from looqta.serve.coordinator import SearchCoordinator

logger = logging.getLogger(__name__)

LOCK_KEY = f"{KEY_PREFIX}:refresh:lock"
#: query key → JSON {search_id, query, started_at} of each refresh running.
RUNNING_KEY = f"{KEY_PREFIX}:refresh:running"
#: query key → when its last refresh started (sorted set; older than two intervals pruned).
STARTED_KEY = f"{KEY_PREFIX}:refresh:started"
#: The last outcomes (JSON, newest first) and when the last round ran.
RECENT_KEY = f"{KEY_PREFIX}:refresh:recent"
LAST_ROUND_KEY = f"{KEY_PREFIX}:refresh:last-round"
RECENT_OUTCOMES = 20

# KEYS: the lock. ARGV: holder, TTL ms. Take it, or renew it when already ours.
_HOLD = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 1 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True)
class Candidate:
    """One of the most asked queries, as a round sees it (times from the service's clock)."""

    key: str
    query: str
    asks: float
    cached_at: float | None  # when its cached search finished; None: nothing cached
    refreshed_at: float | None  # when its last refresh started
    running: bool  # a search for it runs now (a shopper's or a refresh)


def is_due(candidate: Candidate, now: float, interval_seconds: float) -> bool:
    """Cached, nothing running for it, and neither its search nor its last refresh is recent."""
    if candidate.running or candidate.cached_at is None:
        return False
    return now - max(candidate.cached_at, candidate.refreshed_at or 0.0) >= interval_seconds


def free_slots(refreshing: int, concurrency: int, in_flight: int, max_in_flight: int) -> int:
    """How many refreshes may start now: under the concurrency, and in the lower half of the places."""
    return max(0, min(concurrency - refreshing, max_in_flight // 2 - in_flight))


def due(candidates: list[Candidate], now: float, interval_seconds: float, slots: int) -> list[Candidate]:
    """The refreshes to start now: due ones, most asked first, at most ``slots``."""
    ready = [c for c in candidates if is_due(c, now, interval_seconds)]
    return sorted(ready, key=lambda c: -c.asks)[:slots]


def tick_seconds(interval_seconds: float) -> float:
    """How often a round runs: a tenth of the interval, between 0.2 s and 30 s."""
    return min(30.0, max(0.2, interval_seconds / 10))


class Refresher:
    def __init__(
        self,
        config: ServeConfig,
        client: Any,
        coordinator: SearchCoordinator,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.client = client
        self.coordinator = coordinator
        self.clock = clock
        self.holder = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.tick = tick_seconds(config.refresh_interval_seconds)
        self.lock_ms = int(max(3 * self.tick, 5.0) * 1000)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Run the rounds as a task of the service (its lifespan calls this, then :meth:`stop`)."""
        self._task = asyncio.create_task(self.run(), name="looqta-refresh")
        self._task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        """A round that failed on anything but Redis is a bug: said loudly, not lost with the task."""
        if not task.cancelled() and task.exception() is not None:
            logger.error("background refresh stopped", exc_info=task.exception())

    async def stop(self) -> None:
        """Cancel the rounds and hand the lock back (another process's refresher takes it at once)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._release()

    async def asked(self, query: str) -> None:
        """Count one shopper's ask of ``query`` (nothing when the refresh is off)."""
        if self.config.refresh_enabled:
            await asks.count(self.client, query, self.clock(), self.config.refresh_interval_seconds)

    async def run(self) -> None:
        """Rounds until cancelled (the service's lifespan); Redis errors are logged and waited out."""
        if not self.config.refresh_enabled:
            return
        logger.info(
            "background refresh: top %d queries every %g min, %d at once",
            self.config.refresh_top,
            self.config.refresh_interval_seconds / 60,
            self.config.refresh_concurrency,
        )
        while True:
            try:
                await self.round()
            except redis.RedisError as error:
                logger.warning("background refresh round failed (%s); trying again", error)
            await asyncio.sleep(self.tick)

    async def round(self) -> list[str]:
        """One round if this process holds the lock; the search ids of the refreshes it started."""
        if not await self.client.eval(_HOLD, 1, LOCK_KEY, self.holder, self.lock_ms):
            return []
        config, now = self.config, self.clock()
        await self.client.set(LAST_ROUND_KEY, json.dumps({"at": now, "holder": self.holder}))
        refreshing = await self._reap(now)
        in_flight = await self.client.zcount(IN_FLIGHT_KEY, f"({now}", "+inf")
        slots = free_slots(refreshing, config.refresh_concurrency, in_flight, config.max_in_flight)
        if slots == 0:
            return []
        candidates = await self._candidates(now)
        return [
            s
            for c in due(candidates, now, config.refresh_interval_seconds, slots)
            if (s := await self._start(c))
        ]

    async def status(self) -> dict[str, Any]:
        """What every service process reports at ``/api/refresh``."""
        holder, last_round, running, recent = await asyncio.gather(
            self.client.get(LOCK_KEY),
            self.client.get(LAST_ROUND_KEY),
            self.client.hvals(RUNNING_KEY),
            self.client.lrange(RECENT_KEY, 0, -1),
        )
        return {
            "enabled": self.config.refresh_enabled,
            "interval_minutes": self.config.refresh_interval_seconds / 60,
            "concurrency": self.config.refresh_concurrency,
            "top": self.config.refresh_top,
            "refresher": _text(holder) if holder else None,
            "this_process": self.holder,
            "last_round": json.loads(last_round) if last_round else None,
            "running": sorted((json.loads(r) for r in running), key=lambda r: r["started_at"]),
            "recent": [json.loads(r) for r in recent],
        }

    # the round's parts -----------------------------------------------------------------------

    async def _candidates(self, now: float) -> list[Candidate]:
        top = await asks.top(self.client, now, self.config.refresh_interval_seconds, self.config.refresh_top)
        await self.client.zremrangebyscore(
            STARTED_KEY, "-inf", now - 2 * self.config.refresh_interval_seconds
        )
        keys = [query_key(query) for query, _ in top]
        pipe = self.client.pipeline(transaction=False)
        for key in keys:  # one round trip for every candidate's cache entry, last refresh and search
            pipe.get(cache.cache_key(key))
            pipe.zscore(STARTED_KEY, key)
            pipe.exists(running_key(key))
        found = await pipe.execute()
        rows = [found[i : i + 3] for i in range(0, len(found), 3)]
        candidates = []
        for (query, count), key, (raw, refreshed_at, running) in zip(top, keys, rows, strict=True):
            cached = None if raw is None else cache.CachedSearch.decode(raw)
            shown = cached.query if cached is not None else query
            finished_at = cached.finished_at if cached is not None else None
            candidates.append(Candidate(key, shown, count, finished_at, refreshed_at, bool(running)))
        return candidates

    async def _start(self, candidate: Candidate) -> str | None:
        try:
            opened = await self.coordinator.start(candidate.query, candidate.key, "bulk")
        except Overloaded as exc:
            logger.info("refresh of %r not started: %s", candidate.query, exc)
            return None
        now = self.clock()
        running = {"search_id": opened.search_id, "query": candidate.query, "started_at": now}
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(RUNNING_KEY, candidate.key, json.dumps(running))
        pipe.zadd(STARTED_KEY, {candidate.key: now})
        await pipe.execute()
        logger.info(
            "refresh %s of %r started (%g asks, cached %.0f s ago)",
            opened.search_id,
            candidate.query,
            candidate.asks,
            now - (candidate.cached_at or now),
        )
        return str(opened.search_id)

    async def _reap(self, now: float) -> int:
        """Log the refreshes that ended since the last round; how many still run."""
        still = 0
        for raw_key, raw in (await self.client.hgetall(RUNNING_KEY)).items():
            key, running = _text(raw_key), json.loads(raw)
            if _text(await self.client.get(running_key(key)) or b"") == running["search_id"]:
                still += 1
                continue
            cached = await cache.load(self.client, key)
            refreshed = cached is not None and cached.search_id == running["search_id"]
            outcome = {
                **running,
                "outcome": "refreshed" if refreshed else "failed",
                "seconds": round(now - running["started_at"], 3),
            }
            pipe = self.client.pipeline(transaction=False)
            pipe.hdel(RUNNING_KEY, key)
            pipe.lpush(RECENT_KEY, json.dumps(outcome))
            pipe.ltrim(RECENT_KEY, 0, RECENT_OUTCOMES - 1)
            await pipe.execute()
            log = logger.info if refreshed else logger.warning
            log("refresh %s of %r: %s", running["search_id"], running["query"], outcome["outcome"])
        return still

    async def _release(self) -> None:
        try:
            await self.client.eval(_RELEASE, 1, LOCK_KEY, self.holder)
        except redis.RedisError as error:  # the lock expires on its own
            logger.warning("background refresh lock not released (%s)", error)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
