"""Cached searches answered from bytes encoded once, kept per service process and checked per hit.

A cached search's answer is the same for every hit but for the ``search`` event's ``cache`` state,
so :class:`Answer` keeps everything after it encoded and a hit only encodes that small head.
:class:`Answers` keeps the newest few per process; each lookup first reads the kept search's id
from Redis (one short ``GET``), so a search another process cached since, or the cache key's
expiry, is seen at once and the answer is never older than Redis' copy.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from looqta.serve import cache
from looqta.serve.cache import CachedSearch
from looqta.serve.encoded import json_bytes, search_head, sse_event
from looqta.serve.grouping import with_matches_now
from looqta.serve.results import document, event_data, site_summary


@dataclass(frozen=True)
class Answer:
    """A cached search, with its SSE events after ``search`` and its document's tail encoded."""

    cached: CachedSearch
    sse_tail: bytes
    json_tail: bytes

    @classmethod
    def of(cls, cached: CachedSearch) -> Answer:
        placed = with_matches_now(
            [
                (event, entry_id or None, event_data(event, site, data))
                for entry_id, event, site, data in cached.entries
            ]
        )
        events = [(event, payload) for event, _, payload in placed]
        done = {"id": cached.search_id, "sites": site_summary(events)}
        sse_tail = b"".join(sse_event(event, payload, entry_id) for event, entry_id, payload in placed)
        whole = document(events)
        json_tail = (
            b',"sites":'
            + json_bytes(whole["sites"])
            + b',"offers":'
            + json_bytes(whole["offers"])
            + b',"products":'
            + json_bytes(whole["products"])
        )
        return cls(cached, sse_tail + sse_event("done", done), json_tail + b"}")

    def head(self, state: str) -> dict[str, Any]:
        return search_head(self.cached.search_id, self.cached.query, state)

    def sse(self, state: str) -> bytes:
        return sse_event("search", self.head(state)) + self.sse_tail

    def search_json(self, state: str) -> bytes:
        return b'{"search":' + json_bytes(self.head(state)) + self.json_tail


class Answers:
    """The cached searches this process served, encoded (:class:`Answer`), newest ``size`` kept.

    Valid across service processes: each lookup asks Redis for the kept search's id first, so a
    search another process cached since, or the key's expiry, is seen at once.
    """

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._answers: OrderedDict[str, Answer] = OrderedDict()

    async def get(self, client: Any, query_key: str) -> Answer | None:
        version = await client.get(cache.version_key(query_key))
        if version is None:
            self._answers.pop(query_key, None)
            return None
        version = version.decode() if isinstance(version, bytes) else version
        answer = self._answers.get(query_key)
        if answer is not None and answer.cached.search_id == version:
            self._answers.move_to_end(query_key)
            return answer
        cached = await cache.load(client, query_key)
        if cached is None:
            self._answers.pop(query_key, None)
            return None
        # Grouping its offers scores titles: once per cached search and process, off the event loop.
        answer = self._answers[query_key] = await asyncio.to_thread(Answer.of, cached)
        self._answers.move_to_end(query_key)
        while len(self._answers) > self.size:
            self._answers.popitem(last=False)
        return answer
