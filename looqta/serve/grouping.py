"""``match`` events: a search's offers grouped into products as they arrive (docs/search.md).

Pure ``engine.assign`` over the search's own offers (not the store: a search shows what its crawl
found now). Each offer that joins a group gives one ``match`` event: the product id (the
``engine.new_product_id`` of the group's first offer), the offer keys, the cheapest offer, and the
rule and score of the match. A ``site-started`` (a redelivery replaced that site's offers) drops
the site's offers and sends the groups that remain. A matcher that fails stops the grouping for
that search (logged); the offers keep streaming. A client reconnecting with ``Last-Event-ID`` gets
the match events of what follows as a client that never left would: the events it had are grouped
first, silently (``REPLAYED``).
"""

from __future__ import annotations

import asyncio
import logging
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from looqta.match import engine
from looqta.match.model import Offer, offer_key

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from looqta.match.model import Match
    from looqta.serve.sse import Event

logger = logging.getLogger(__name__)

#: An event a reconnecting client already had (before its ``Last-Event-ID``): grouped, not sent again.
REPLAYED = "replayed"


def to_offer(data: dict[str, Any]) -> Offer:
    """An ``offer`` event's data (the item, with its site) as the matcher sees it."""
    try:
        price = None if data.get("price") is None else Decimal(str(data["price"]))
    except InvalidOperation:
        price = None
    return Offer(
        key=offer_key(data["site"], data["source_id"]),
        site=data["site"],
        title=data.get("title") or "",
        brand=data.get("brand"),
        price=price,
        currency=data.get("currency"),
        url=data.get("url"),
        gtin=data.get("gtin"),
        model=data.get("model"),
    )


class SearchGrouping:
    """One search's groups of offers; :meth:`add` and :meth:`drop_site` say what changed."""

    def __init__(self) -> None:
        self.groups: dict[str, list[Offer]] = {}
        self.matches: dict[str, list[Match]] = {}
        self._keys: dict[str, frozenset[str]] = {}

    def add(self, offer: Offer) -> dict[str, Any] | None:
        """Place ``offer``; the ``match`` event's data when it joined a group."""
        if offer.key in self._keys:
            return None  # the same offer twice in one delivery: placed already
        keys = self._keys[offer.key] = engine.blocking_keys(offer)
        candidates = {
            pid: offers
            for pid, offers in self.groups.items()
            if any(keys & self._keys[o.key] for o in offers)
        }
        choice = engine.assign(offer, candidates) if candidates else None
        if choice is None:
            product_id = engine.new_product_id(offer)
            self.groups[product_id], self.matches[product_id] = [offer], []
            return None
        product_id, match = choice
        self.groups[product_id].append(offer)
        self.matches[product_id].append(match)
        return self.event(product_id, match)

    def drop_site(self, site: str) -> list[dict[str, Any]]:
        """Forget ``site``'s offers, group the rest again; the ``match`` events of the new groups."""
        kept = [o for offers in self.groups.values() for o in offers if o.site != site]
        self.groups, self.matches, self._keys = {}, {}, {}
        events = {}
        for offer in kept:
            if (event := self.add(offer)) is not None:
                events[event["product"]] = event
        return list(events.values())

    def event(self, product_id: str, match: Match) -> dict[str, Any]:
        offers = self.groups[product_id]
        priced = [o for o in offers if o.price is not None]
        best = min(priced, key=lambda o: (o.price, o.key)) if priced else None
        cheapest = None
        if best is not None:
            cheapest = {
                "key": best.key,
                "site": best.site,
                "price": str(best.price),
                "currency": best.currency,
            }
        return {
            "product": product_id,
            "offers": [o.key for o in offers],
            "cheapest": cheapest,
            "rule": match.rule,
            "score": match.score,
            "matched": [match.left, match.right],
        }


def matches_after(grouping: SearchGrouping, event: str, data: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``match`` events' data that follow one event of a search (none for most events)."""
    if event == "offer":
        found = grouping.add(to_offer(data))
        return [] if found is None else [found]
    if event == "site-started":
        return grouping.drop_site(data["site"])
    return []


def with_matches_now(
    events: list[tuple[str, str | None, dict[str, Any]]],
) -> list[tuple[str, str | None, dict]]:
    """A finished search's events with its ``match`` events in place (a cached answer, encoded once)."""
    grouping, out = SearchGrouping(), []
    for event, entry_id, data in events:
        out.append((event, entry_id, data))
        out.extend(("match", None, found) for found in matches_after(grouping, event, data))
    return out


async def with_matches(source: AsyncIterator[Event]) -> AsyncIterator[Event]:
    """``source``'s events, each offer followed by its ``match`` event when it joined a product.

    ``(REPLAYED, id, {"event", "data"})`` events (what a reconnecting client had before) are grouped
    and not sent, with their ``match`` events: a later offer joins the groups the client already shows.
    """
    grouping: SearchGrouping | None = SearchGrouping()
    async for event in source:
        replayed = event is not None and event[0] == REPLAYED
        if replayed:
            assert event is not None
            event = (event[2]["event"], event[1], event[2]["data"])
        else:
            yield event
        if grouping is None or event is None or event[0] not in ("offer", "site-started"):
            continue
        try:
            # Scoring titles is CPU work: off the event loop.
            matched = await asyncio.to_thread(matches_after, grouping, event[0], event[2])
        except Exception:  # the offers matter more than their grouping: keep streaming
            logger.warning("Grouping a search's offers failed; its match events stop here", exc_info=True)
            grouping = None
            continue
        for data in [] if replayed else matched:
            yield "match", None, data


def products(events: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """``search.json``'s products: the last ``match`` event of each product id, in order of first match."""
    latest: dict[str, dict[str, Any]] = {}
    for event, data in events:
        if event == "site-started":
            latest = {
                pid: d
                for pid, d in latest.items()
                if all(not k.startswith(f"{data['site']}:") for k in d["offers"])
            }
        elif event == "match":
            latest[data["product"]] = data
    return list(latest.values())
