"""Finished searches kept per normalised query in Redis, and how fresh a kept one is.

A cached search is its stream's entries as they ended (entry id, event, site, data) with the
time it finished; the key expires once it is neither fresh nor stale. Beside it a small key holds
the kept search's id (its version), so a process that keeps searches it served
(looqta.serve.answers) checks one short value per hit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from looqta.search.contract import KEY_PREFIX

#: (Redis stream entry id, event, site, data)
Entry = tuple[str, str, str, dict[str, Any]]


def cache_key(query_key: str) -> str:
    return f"{KEY_PREFIX}:cache:{query_key}"


def version_key(query_key: str) -> str:
    """The id of the search :func:`cache_key` holds; written and expiring with it."""
    return f"{KEY_PREFIX}:cache:{query_key}:id"


@dataclass(frozen=True)
class CachedSearch:
    search_id: str
    query: str
    finished_at: float
    entries: list[Entry] = field(default_factory=list)

    def encode(self) -> str:
        return json.dumps(
            {
                "search_id": self.search_id,
                "query": self.query,
                "finished_at": self.finished_at,
                "entries": self.entries,
            }
        )

    @classmethod
    def decode(cls, raw: str | bytes) -> CachedSearch:
        data = json.loads(raw)
        entries = [(str(i), str(e), str(s), dict(d)) for i, e, s, d in data["entries"]]
        return cls(data["search_id"], data["query"], float(data["finished_at"]), entries)


def state(cached: CachedSearch | None, now: float, fresh_seconds: float, stale_seconds: float) -> str:
    """``hit`` (fresh), ``stale`` (serve it, refresh it) or ``miss``."""
    if cached is None:
        return "miss"
    age = now - cached.finished_at
    if age < fresh_seconds:
        return "hit"
    return "stale" if age < fresh_seconds + stale_seconds else "miss"


async def load(client: Any, query_key: str) -> CachedSearch | None:
    raw = await client.get(cache_key(query_key))
    return None if raw is None else CachedSearch.decode(raw)


async def store(client: Any, query_key: str, cached: CachedSearch, keep_seconds: float) -> None:
    keep_ms = max(1, int(keep_seconds * 1000))
    pipe = client.pipeline(transaction=True)
    pipe.set(cache_key(query_key), cached.encode(), px=keep_ms)
    pipe.set(version_key(query_key), cached.search_id, px=keep_ms)
    await pipe.execute()
