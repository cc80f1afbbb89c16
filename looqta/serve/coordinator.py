"""Open a search: from the cache, by joining the one already running, or by queueing a new one.

A new search is admitted only while fewer than ``max_in_flight`` run (a Redis sorted set, so every
service process counts the same), is shared by query (``SET NX`` on the normalised query → search
id) and gets a finisher: a task of this service, not of any client, that reads the stream to its
end, reports sites that did not answer in time, writes the cache and frees the slot.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from looqta.search import contract, queue
from looqta.search.contract import StreamEntry
from looqta.serve import cache
from looqta.serve.answers import Answer, Answers
from looqta.serve.query import query_key
from looqta.serve.results import Progress, kept

if TYPE_CHECKING:
    from collections.abc import Callable

    from looqta.search.contract import SearchJob
    from looqta.serve.cache import Entry
    from looqta.serve.config import ServeConfig

logger = logging.getLogger(__name__)

IN_FLIGHT_KEY = f"{contract.KEY_PREFIX}:in-flight"

# KEYS: the in-flight set. ARGV: now, limit, this search's deadline, search id.
_ADMIT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
return 1
"""


def running_key(query_key: str) -> str:
    return f"{contract.KEY_PREFIX}:running:{query_key}"


def meta_key(search_id: str) -> str:
    return f"{contract.KEY_PREFIX}:{search_id}:meta"


class Overloaded(Exception):
    """More searches in flight than the limit (answered 429 with ``Retry-After``)."""


@dataclass(frozen=True)
class Opened:
    search_id: str
    query: str
    state: str  # hit | stale | miss
    sites: tuple[str, ...]
    started_at: float
    cached: cache.CachedSearch | None = None
    #: The cached search encoded, when it was served from the cache (looqta.serve.answers).
    answer: Answer | None = None


class SearchCoordinator:
    def __init__(self, config: ServeConfig, client: Any, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.client = client
        self.clock = clock
        self._admit = client.register_script(_ADMIT)
        self.answers = Answers()
        self._finishers: set[asyncio.Task[None]] = set()

    async def open(self, query: str) -> Opened:
        key = query_key(query)
        answer = await self.answers.get(self.client, key)
        cached = answer.cached if answer is not None else None
        state = cache.state(cached, self.clock(), self.config.cache_seconds, self.config.stale_seconds)
        if cached is not None and state != "miss":
            if state == "stale":
                await self._refresh(query, key)
            return Opened(cached.search_id, cached.query, state, self.config.sites, 0.0, cached, answer)
        return await self._running(key) or await self._start(query, key, "manual")

    async def resume(self, query: str) -> Opened | None:
        """The search a reconnecting client was reading: running, or kept in the cache at any age."""
        key = query_key(query)
        running = await self._running(key)
        if running is not None:
            return running
        cached = await cache.load(self.client, key)
        if cached is None:
            return None
        return Opened(cached.search_id, cached.query, "hit", self.config.sites, 0.0, cached)

    async def close(self) -> None:
        for task in list(self._finishers):
            task.cancel()
        await asyncio.gather(*self._finishers, return_exceptions=True)

    async def _running(self, key: str) -> Opened | None:
        search_id = await self.client.get(running_key(key))
        if search_id is None:
            return None
        search_id = search_id.decode() if isinstance(search_id, bytes) else search_id
        raw = await self.client.get(meta_key(search_id))
        if raw is None:
            return None
        meta = json.loads(raw)
        return Opened(search_id, meta["query"], "miss", tuple(meta["sites"]), meta["started_at"])

    async def _refresh(self, query: str, key: str) -> None:
        """Stale-while-revalidate: a bulk search for ``query`` unless one runs or the service is full."""
        if await self.client.exists(running_key(key)):
            return
        try:
            await self._start(query, key, "bulk")
        except Overloaded:
            logger.info("no refresh of %r: %s searches in flight", query, self.config.max_in_flight)

    async def _start(self, query: str, key: str, kind: str) -> Opened:
        config, now = self.config, self.clock()
        search_id = uuid.uuid4().hex
        hold_seconds = 2 * config.site_timeout_seconds + 10
        admitted = await self._admit(
            keys=[IN_FLIGHT_KEY], args=[now, config.max_in_flight, now + hold_seconds, search_id]
        )
        if not admitted:
            raise Overloaded(f"{config.max_in_flight} searches in flight")
        if not await self.client.set(running_key(key), search_id, nx=True, px=int(hold_seconds * 1000)):
            await self.client.zrem(IN_FLIGHT_KEY, search_id)
            other = await self._running(key)
            if other is None:
                raise Overloaded("a search for this query is starting")
            return other
        meta = {"query": query, "sites": list(config.sites), "started_at": now, "kind": kind}
        await self.client.set(meta_key(search_id), json.dumps(meta), ex=contract.STREAM_TTL_SECONDS)
        jobs = contract.jobs_for(
            query, config.sites, search_id=search_id, kind=kind, max_pages=config.max_pages
        )
        pipe = self.client.pipeline(transaction=False)
        for job in jobs:
            queue.push_commands(pipe, job)
        await pipe.execute()
        task = asyncio.create_task(self._finish(key, jobs, now), name=f"looqta-search-{search_id}")
        self._finishers.add(task)
        task.add_done_callback(self._finishers.discard)
        logger.info("search %s (%s) for %r queued on %s", search_id, kind, query, ", ".join(config.sites))
        return Opened(search_id, query, "miss", config.sites, now)

    async def _finish(self, key: str, jobs: list[SearchJob], started_at: float) -> None:
        search_id, query = jobs[0].search_id, jobs[0].query
        try:
            entries = await self._read_to_end(jobs, started_at)
            if any(event == "site-done" for _, event, _, _ in entries):
                done = cache.CachedSearch(search_id, query, self.clock(), entries)
                keep = self.config.cache_seconds + self.config.stale_seconds
                await cache.store(self.client, key, done, keep)
        finally:
            with contextlib.suppress(Exception):  # the keys expire on their own if Redis is gone
                if await self.client.get(running_key(key)) in (search_id, search_id.encode()):
                    await self.client.delete(running_key(key))
                await self.client.zrem(IN_FLIGHT_KEY, search_id)

    async def _read_to_end(self, jobs: list[SearchJob], started_at: float) -> list[Entry]:
        search_id = jobs[0].search_id
        progress = Progress(self.config.sites)
        entries: list[Entry] = []
        last, deadline = "0-0", started_at + self.config.site_timeout_seconds
        stream = contract.stream_key(search_id)
        while not progress.finished:
            remaining = deadline - self.clock()
            if remaining <= 0:
                await self._time_out([j for j in jobs if j.site in progress.missing()])
                deadline = float("inf")
                remaining = 1.0
            reply = await self.client.xread({stream: last}, block=int(min(remaining, 1.0) * 1000) or 1)
            for _, items in reply or []:
                for raw_id, fields in items:
                    last = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
                    entry = StreamEntry.from_fields(fields)
                    if progress.accept(entry.event, entry.site):
                        entries.append((last, entry.event, entry.site, entry.data))
        return kept(entries)

    async def _time_out(self, jobs: list[SearchJob]) -> None:
        """Report sites that did not answer in time, and drop their jobs if still queued."""
        for job in jobs:
            await self.client.lrem(contract.queue_key(job.site, job.kind), 1, job.encode())
            detail = f"no answer within {self.config.site_timeout_seconds:g} s"
            await queue.append(self.client, job.search_id, contract.site_failed(job.site, "timeout", detail))
            logger.warning("search %s: %s timed out", job.search_id, job.site)

    #: A search of ``kind`` for ``(query, query key)``, admitted as any other (looqta.serve.refresh).
    start = _start
