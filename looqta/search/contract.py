"""The search contract between a service and the warm crawlers: Redis keys, the job, the stream.

Everything a service needs to push a search and read its results is here, as pure functions:

* Queue: per site, two Redis lists, ``looqta:search:<site>:manual`` and ``...:bulk``. Producers
  ``RPUSH`` a :class:`SearchJob` as JSON. A crawler takes with one Lua script (looqta.search.queue)
  that ``LMOVE``\\s the head of the manual list, or else of the bulk list, into its own processing
  list: manual ahead of bulk, and two crawlers never take the same job.
* Stream: per search id, a Redis Stream ``looqta:search:<id>:stream`` (expires
  :data:`STREAM_TTL_SECONDS` after its last entry). Entries have the fields ``event``, ``site`` and
  ``data`` (JSON): ``site-started`` (attempt, crawler), ``offer`` (the item), ``site-done``
  (count, seconds), ``site-failed`` (reason: timeout | blocked | error, detail). A job delivered
  again after a crawler died writes ``site-started`` again with the next attempt: a reader keeps a
  site's offers from its last ``site-started`` on.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, replace
from decimal import Decimal
from typing import Any

from itemadapter import ItemAdapter

KEY_PREFIX = "looqta:search"
JOB_KINDS = ("manual", "bulk")
EVENTS = ("site-started", "offer", "site-done", "site-failed")
FAILURE_REASONS = ("timeout", "blocked", "error")
#: A search's stream is kept this long after its last entry.
STREAM_TTL_SECONDS = 3600
#: A crawler's lease on what it took; renewed by its heartbeat, expired when it died.
LEASE_TTL_SECONDS = 10.0


class ContractError(ValueError):
    """A message that does not follow the contract."""


def queue_key(site: str, kind: str) -> str:
    """The list a ``kind`` job for ``site`` is pushed to (``RPUSH``) and taken from (head)."""
    if kind not in JOB_KINDS:
        raise ContractError(f"job kind must be one of {JOB_KINDS}, got {kind!r}")
    return f"{KEY_PREFIX}:{site}:{kind}"


def processing_key(site: str, crawler_id: str) -> str:
    """What crawler ``crawler_id`` took and has not finished."""
    return f"{KEY_PREFIX}:{site}:processing:{crawler_id}"


def lease_key(site: str, crawler_id: str) -> str:
    """Exists while crawler ``crawler_id`` is alive (a key with a TTL its heartbeat renews)."""
    return f"{KEY_PREFIX}:{site}:lease:{crawler_id}"


def crawlers_key(site: str) -> str:
    """The set of crawler ids that may hold a processing list for ``site``."""
    return f"{KEY_PREFIX}:{site}:crawlers"


def pushed_channel(site: str) -> str:
    """Pub/sub channel a producer publishes the job's kind on after pushing it: wakes ``site``'s
    crawlers at once (a crawler that missed it still finds the job at its next poll)."""
    return f"{KEY_PREFIX}:{site}:pushed"


def stream_key(search_id: str) -> str:
    return f"{KEY_PREFIX}:{search_id}:stream"


@dataclass(frozen=True)
class SearchJob:
    """One site's share of a search, as queued. ``attempt`` counts deliveries after a crawler died."""

    search_id: str
    query: str
    site: str
    kind: str = "manual"
    max_pages: int | None = None
    details: bool = False
    submitted_at: float = 0.0
    attempt: int = 0

    @classmethod
    def new(cls, query: str, site: str, **fields: Any) -> SearchJob:
        fields.setdefault("search_id", uuid.uuid4().hex)
        # In milliseconds: Redis' Lua cjson keeps 14 digits when a job is delivered again.
        fields.setdefault("submitted_at", round(time.time(), 3))
        return cls(query=query, site=site, **fields).checked()

    def checked(self) -> SearchJob:
        if not self.search_id or not self.query.strip() or not self.site:
            raise ContractError(f"a job needs a search id, a query and a site: {self!r}")
        if self.kind not in JOB_KINDS:
            raise ContractError(f"job kind must be one of {JOB_KINDS}, got {self.kind!r}")
        if self.max_pages is not None and (not isinstance(self.max_pages, int) or self.max_pages < 1):
            raise ContractError(f"max_pages must be a positive integer, got {self.max_pages!r}")
        return self

    def encode(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def decode(cls, raw: str | bytes) -> SearchJob:
        try:
            data = json.loads(raw)
            known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
            return cls(**known).checked()
        except (ValueError, TypeError, KeyError) as exc:
            raise ContractError(f"not a search job: {raw!r} ({exc})") from exc

    def redelivered(self) -> SearchJob:
        return replace(self, attempt=self.attempt + 1)


def jobs_for(query: str, sites: tuple[str, ...], **fields: Any) -> list[SearchJob]:
    """One search of ``query`` on every site: a job per site, one search id, one stream."""
    fields.setdefault("search_id", uuid.uuid4().hex)
    return [SearchJob.new(query, site, **fields) for site in sites]


@dataclass(frozen=True)
class StreamEntry:
    """One entry of a search's stream."""

    event: str
    site: str
    data: dict[str, Any]

    def fields(self) -> dict[str, str]:
        """The Redis Stream fields (``XADD key * event .. site .. data ..``)."""
        return {"event": self.event, "site": self.site, "data": json.dumps(self.data, default=_json_value)}

    @classmethod
    def from_fields(cls, fields: dict[Any, Any]) -> StreamEntry:
        text = {_text(key): _text(value) for key, value in fields.items()}
        try:
            entry = cls(text["event"], text["site"], json.loads(text["data"]))
        except (KeyError, ValueError) as exc:
            raise ContractError(f"not a stream entry: {fields!r}") from exc
        if entry.event not in EVENTS:
            raise ContractError(f"unknown stream event {entry.event!r}")
        return entry


def site_started(site: str, attempt: int, crawler_id: str) -> StreamEntry:
    return StreamEntry("site-started", site, {"attempt": attempt, "crawler": crawler_id})


def offer(site: str, item: Any) -> StreamEntry:
    return StreamEntry("offer", site, ItemAdapter(item).asdict())


def site_done(site: str, count: int, seconds: float) -> StreamEntry:
    return StreamEntry("site-done", site, {"count": count, "seconds": round(seconds, 3)})


def site_failed(site: str, reason: str, detail: str = "") -> StreamEntry:
    if reason not in FAILURE_REASONS:
        raise ContractError(f"failure reason must be one of {FAILURE_REASONS}, got {reason!r}")
    return StreamEntry("site-failed", site, {"reason": reason, "detail": detail})


def site_results(entries: list[StreamEntry], site: str) -> tuple[list[dict[str, Any]], StreamEntry | None]:
    """A site's offers since its last ``site-started``, and its ending entry (or None yet)."""
    offers: list[dict[str, Any]] = []
    end: StreamEntry | None = None
    for entry in entries:
        if entry.site != site:
            continue
        if entry.event == "site-started":
            offers, end = [], None
        elif entry.event == "offer":
            offers.append(entry.data)
        else:
            end = entry
    return offers, end


def _json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # exact, as the feeds write it
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
