"""A reconnecting client's ``match`` events (``grouping.with_matches`` with ``REPLAYED`` events): the
offers it had are grouped first, silently, so a later offer joins the products it already shows."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from looqta.serve.grouping import REPLAYED, with_matches

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from looqta.serve.sse import Event

AMAZON = {
    "site": "amazon",
    "source_id": "A1",
    "title": "Apple iPhone 15 Pro (256 GB) - Natural Titanium",
    "price": "4199",
}
NOON = {
    "site": "noon",
    "source_id": "N1",
    "title": "iPhone 15 Pro 256GB Natural Titanium 5G - Middle East Version",
    "price": "3999",
}
OTHER = {
    "site": "noon",
    "source_id": "N2",
    "title": "Garmin Forerunner 265 Running Smartwatch Black",
    "price": "1499",
}


def collect(events: list[Event]) -> list[Event]:
    async def source() -> AsyncIterator[Event]:
        for event in events:
            yield event

    async def main() -> list[Event]:
        return [event async for event in with_matches(source())]

    return asyncio.run(main())


def matches(events: list[Event]) -> list[dict[str, Any]]:
    return [event[2] for event in events if event is not None and event[0] == "match"]


def test_an_offer_after_a_reconnect_joins_the_product_of_an_offer_sent_before() -> None:
    whole = collect([("offer", "1-0", AMAZON), ("offer", "2-0", OTHER), ("offer", "3-0", NOON)])
    resumed = collect(
        [
            (REPLAYED, "1-0", {"event": "offer", "data": AMAZON}),
            (REPLAYED, "2-0", {"event": "offer", "data": OTHER}),
            ("offer", "3-0", NOON),
        ]
    )
    [joined] = matches(whole)
    assert joined["offers"] == ["amazon:A1", "noon:N1"]
    assert matches(resumed) == [joined]  # the same product id, offers and cheapest
    assert [e for e in resumed if e is not None and e[0] != "match"] == [("offer", "3-0", NOON)]


def test_replayed_events_and_their_matches_are_not_sent_again() -> None:
    resumed = collect(
        [
            (REPLAYED, "1-0", {"event": "offer", "data": AMAZON}),
            (REPLAYED, "2-0", {"event": "offer", "data": NOON}),  # matched before the reconnect
            ("offer", "3-0", OTHER),
        ]
    )
    assert resumed == [("offer", "3-0", OTHER)]
