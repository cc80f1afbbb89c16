"""One warm search's timeline, per site, from the clocks of the parts it crossed (one machine, one clock).

Seconds from the shopper's request (the benchmark's ``time.time()`` when it sent ``GET /api/search``):

* ``pushed``: the service queued the jobs (``started_at`` in the search's metadata in Redis);
* ``taken``: the crawler took its job (the ``site-started`` entry's Redis stream id, in ms);
* ``at_site``: the search page's request reached the sandbox (its request log stamps a request when
  answered, after the injected latency: stamp - latency);
* ``answered``: the sandbox answered it;
* ``offer_in_stream``: the site's first ``offer`` entry (its stream id);
* ``offer_read``: the client read that offer's SSE event;
* ``done_in_stream`` / ``done_read``: the same for ``site-done``.

The overheads between them are what the service and the crawler add to the site's own time.
"""

from __future__ import annotations

import json
import statistics
from typing import Any
from urllib.parse import urlencode

import redis

from looqta.search import contract

STEPS = (
    "pushed",
    "taken",
    "at_site",
    "answered",
    "offer_in_stream",
    "offer_read",
    "done_in_stream",
    "done_read",
)
#: ``{site: {step: seconds from the request}}``
Timeline = dict[str, dict[str, float | None]]


def search_page(site: str, query: str) -> str:
    """What the site spider's first search page's path holds (looqta/spiders/<site>.py ``search_url``)."""
    return (
        f"/s?{urlencode({'k': query, 'page': 1})}"
        if site == "amazon"
        else f"?{urlencode({'q': query, 'page': 1})}"
    )


def timeline(
    redis_url: str, requests: dict[str, list[dict[str, Any]]], run: dict[str, Any], latency_ms: dict[str, int]
) -> Timeline:
    """``{site: {step: seconds from the request}}`` for a finished warm search ``run``."""
    started, search_id = run["wall_started"], run["search_id"]
    with redis.Redis.from_url(redis_url) as client:
        meta = json.loads(client.get(f"{contract.KEY_PREFIX}:{search_id}:meta") or "{}")
        raw = client.xrange(contract.stream_key(search_id))
    entries = [
        (int(entry_id.split(b"-")[0]) / 1000, contract.StreamEntry.from_fields(f)) for entry_id, f in raw
    ]
    out: Timeline = {}
    for site, reads in run["wall_reads"].items():

        def first(event: str, site: str = site) -> float | None:
            return next((t for t, e in entries if e.site == site and e.event == event), None)

        page = search_page(site, run["query"])
        stamps = [r["t"] for r in requests.get(site, []) if page in r["path_qs"] and r["t"] >= started]
        answered = min(stamps) if stamps else None
        wall = {
            "pushed": meta.get("started_at"),
            "taken": first("site-started"),
            "at_site": None if answered is None else answered - latency_ms[site] / 1000,
            "answered": answered,
            "offer_in_stream": first("offer"),
            "offer_read": reads.get("offer"),
            "done_in_stream": first("site-done"),
            "done_read": reads.get("site-done"),
        }
        out[site] = {step: None if t is None else round(t - started, 4) for step, t in wall.items()}
    return out


def median_timeline(
    timelines: list[dict[str, dict[str, float | None]]],
) -> dict[str, dict[str, float | None]]:
    """Per site and step, the median over searches."""
    out: Timeline = {}
    for site in sorted({site for t in timelines for site in t}):
        out[site] = {}
        for step in STEPS:
            values = [v for t in timelines if (v := t.get(site, {}).get(step)) is not None]
            out[site][step] = round(statistics.median(values), 4) if values else None
    return out


def table(median: Timeline) -> str:
    lines = ["| site | " + " | ".join(STEPS) + " |", "|---" * (len(STEPS) + 1) + "|"]
    for site, steps in median.items():
        cells = ["–" if (v := steps.get(step)) is None else f"{v:.3f}" for step in STEPS]
        lines.append(f"| {site} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
