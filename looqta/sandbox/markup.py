"""Small HTML helpers shared by the site renderers."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from decimal import Decimal

MALFORMED_PRICE = "N/A"


def amount(value: Decimal) -> str:
    """``Decimal("1299")`` -> ``"1,299.00"``."""
    return f"{value:,.2f}"


def abbreviated(n: int) -> str:
    """``1234`` -> ``1.2K``, ``2500000`` -> ``2.5M``: counts as the sites' result cards round them."""
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1000:.1f}".rstrip("0").rstrip(".") + "K"
    return f"{n / 1_000_000:.1f}".rstrip("0").rstrip(".") + "M"


def count(value: int) -> str:
    return f"{value:,}"


def document(title: str, body: str, *, head: str = "", lang: str = "en") -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title>{head}</head>\n<body>\n{body}\n</body></html>\n"
    )
