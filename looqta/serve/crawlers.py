"""The warm crawlers alive now, per site, from the snapshots they publish (looqta/search/presence.py).

A site's crawlers are the ids in ``contract.crawlers_key(site)``; one is alive while its presence
key exists (a crawler that died is gone once its key's TTL ran out, even before a live crawler
removes it from the set).
"""

from __future__ import annotations

import json
from typing import Any

from looqta.search import contract
from looqta.search.presence import presence_key


async def alive(client: Any, sites: tuple[str, ...]) -> dict[str, list[dict[str, Any]]]:
    """Each site's live crawlers' snapshots, by crawler id."""
    found: dict[str, list[dict[str, Any]]] = {}
    for site in sites:
        ids = sorted(_text(i) for i in await client.smembers(contract.crawlers_key(site)))
        raw = await client.mget([presence_key(site, i) for i in ids]) if ids else []
        found[site] = [json.loads(r) for r in raw if r is not None]
    return found


def counts(crawlers: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, int]]:
    """Per site: crawlers alive and how many of them are busy (what ``/healthz`` shows)."""
    return {
        site: {"alive": len(snaps), "busy": sum(1 for s in snaps if s.get("state") == "busy")}
        for site, snaps in crawlers.items()
    }


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
