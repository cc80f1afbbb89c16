"""``python -m looqta.store products WORDS``: products as a table, each site's price, the cheapest marked
(``*``) and the change since the previous price. Formatting only; the reading is ``ProductStore.search``."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from looqta.match.offers import decimal

if TYPE_CHECKING:
    from collections.abc import Iterator

TITLE_WIDTH = 70
HEADER = f"  {'SITE':<8} {'PRICE':>12}  {'CUR':<4} {'CHANGE':<36} {'ID':<14} URL"


def change(last_change: dict[str, Any] | None) -> str:
    """``-250.00 (was 3199.00) 2026-02-01``, or ``-`` when the price never changed."""
    before = now = None
    if last_change:
        before, now = decimal(last_change["previous_price"]), decimal(last_change["price"])
    if last_change is None or before is None or now is None:
        return "-"
    delta = now - before
    sign = "+" if delta > 0 else ""
    when = last_change.get("changed_at")
    day = f" {when:%Y-%m-%d}" if when is not None else ""
    return f"{sign}{delta} (was {before}){day}"


def _price(entry: dict[str, Any]) -> Decimal:
    price = decimal(entry.get("price"))
    return Decimal("Infinity") if price is None else price


def lines(products: list[dict[str, Any]]) -> Iterator[str]:
    """The table: per product a heading line, then one line per offer, cheapest first."""
    for number, product in enumerate(products):
        if number:
            yield ""
        title = product["title"]
        short = title if len(title) <= TITLE_WIDTH else title[: TITLE_WIDTH - 1] + "…"
        yield f"{product['_id']}  {short}  ({len(product['offers'])} offers)"
        yield HEADER
        cheapest = (product.get("cheapest") or {}).get("key")
        for entry in sorted(product["offers"], key=lambda e: (_price(e), e["key"])):
            mark = "*" if entry["key"] == cheapest else " "
            price = decimal(entry.get("price"))
            yield (
                f"{mark} {entry['site']:<8} {'-' if price is None else str(price):>12}  "
                f"{entry.get('currency') or '':<4} {change(entry.get('last_change')):<36} "
                f"{entry['source_id']:<14} {entry.get('url') or ''}"
            )
