"""A search as Server-Sent Events: from the cache, or live from its Redis stream (``XREAD BLOCK``).

Every site event carries its Redis stream entry id as the SSE ``id``, so a client that reconnects
with ``Last-Event-ID`` gets what follows it and nothing twice. Comments keep the line alive. A
cached search read from its start is answered from its ready bytes instead (looqta.serve.encoded).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from looqta.search import contract
from looqta.search.contract import StreamEntry
from looqta.serve.encoded import search_head, sse_comment, sse_event
from looqta.serve.grouping import REPLAYED, with_matches
from looqta.serve.results import Progress, event_data, id_order, site_summary

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from looqta.serve.config import ServeConfig
    from looqta.serve.coordinator import Opened

#: How long past its sites' timeout a reader waits for a finisher that may have died with its process.
READER_GRACE_SECONDS = 5.0


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


#: (event, SSE id, data) of one event; None: a quiet heartbeat.
Event = tuple[str, str | None, dict[str, Any]] | None


async def events(
    client: Any, opened: Opened, config: ServeConfig, after: str | None = None
) -> AsyncIterator[Event]:
    """``search``, the site events after ``after`` (a stream entry id; those before it as ``REPLAYED``,
    for ``grouping.with_matches`` only), then ``done``."""
    yield "search", None, search_head(opened.search_id, opened.query, opened.state)
    sent: list[tuple[str, dict[str, Any]]] = []
    source = _cached(opened) if opened.cached is not None else _live(client, opened, config)
    async for entry_id, event, site, data in source:
        if entry_id is None:
            yield None
            continue
        payload = event_data(event, site, data)
        sent.append((event, payload))
        if after is None or not entry_id or id_order(entry_id) > id_order(after):
            yield event, entry_id or None, payload
        else:  # the client had it: grouped again so that its next offers join the same products
            yield REPLAYED, entry_id, {"event": event, "data": payload}
    yield "done", None, {"id": opened.search_id, "sites": site_summary(sent)}


async def stream(
    client: Any, opened: Opened, config: ServeConfig, after: str | None = None
) -> AsyncIterator[bytes]:
    """:func:`events`, with their ``match`` events (looqta.serve.grouping), as the bytes of an SSE stream."""
    async for event in with_matches(events(client, opened, config, after)):
        yield sse_comment("heartbeat") if event is None else sse_event(event[0], event[2], event[1])


async def _cached(opened: Opened) -> AsyncIterator[tuple[str | None, str, str, dict[str, Any]]]:
    assert opened.cached is not None
    for entry in opened.cached.entries:
        yield entry


async def _live(
    client: Any, opened: Opened, config: ServeConfig
) -> AsyncIterator[tuple[str | None, str, str, dict[str, Any]]]:
    """The stream's entries that count, ``(None, ...)`` at each quiet heartbeat, until every site ended."""
    progress = Progress(opened.sites)
    stream, last = contract.stream_key(opened.search_id), "0-0"
    give_up = opened.started_at + config.site_timeout_seconds + READER_GRACE_SECONDS
    block_ms = int(config.heartbeat_seconds * 1000)
    while not progress.finished:
        if time.time() > give_up:  # the finisher is gone: say so rather than wait for ever
            for site in progress.missing():
                progress.accept("site-failed", site)
                yield "", "site-failed", site, {"reason": "timeout", "detail": "no answer"}
            return
        reply = await client.xread({stream: last}, block=block_ms)
        if not reply:
            yield None, "", "", {}
            continue
        for _, items in reply:
            for raw_id, fields in items:
                last = _text(raw_id)
                entry = StreamEntry.from_fields(fields)
                if progress.accept(entry.event, entry.site):
                    yield last, entry.event, entry.site, entry.data
