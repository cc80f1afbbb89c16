"""Fields read through ordered fallbacks, with a record of which fallback served each one.

A site's markup changes piece by piece: a class is renamed, a link moves around a heading, a
price block is emptied. A spider therefore reads every field through a chain of
:class:`Fallback` s, structured data first (JSON-LD, embedded JSON), then stable attributes
(``data-asin``, ``data-qa``, ``aria-label``), then classes matched by a stable fragment. The first
fallback that yields a usable value wins; :class:`Extraction` keeps its name, so the stats, the
run health and ``python -m looqta.check`` can say that a site now serves its price only through
a third-choice selector, before the last one breaks.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from price_parser import Price

if TYPE_CHECKING:
    from collections.abc import Iterator

    from parsel import Selector, SelectorList
    from scrapy.statscollectors import StatsCollector

logger = logging.getLogger(__name__)

#: Stats prefix: ``looqta/fields/<page type>/<field>/<fallback>`` and ``.../missing``.
STATS_PREFIX = "looqta/fields"

_ABBREVIATED = re.compile(r"(\d+(?:[.,]\d+)?)\s*([KkMm])\b")
_DIGITS = re.compile(r"\d[\d,]*")
_RATING = re.compile(r"(\d+(?:[.,]\d+)?)")


class Source:
    """What fallbacks read: one result card or page; its JSON-LD ``Product`` parsed once, on
    first use (a product page's chain asks for it once per field)."""

    def __init__(self, selector: Selector) -> None:
        self.selector = selector
        self._product: dict[str, Any] | None = None
        self._product_read = False

    def css(self, query: str) -> SelectorList[Selector]:
        return self.selector.css(query)

    @property
    def product(self) -> dict[str, Any] | None:
        if not self._product_read:
            self._product = json_ld_product(self.selector)
            self._product_read = True
        return self._product


@dataclass(frozen=True)
class Fallback:
    """One way to read a field: ``read`` returns raw text (or a value), ``None`` when absent."""

    name: str
    read: Callable[[Source], Any]


def css(query: str, name: str | None = None) -> Fallback:
    """The first non-blank text a CSS query (with ``::text`` / ``::attr()``) matches."""

    def read(source: Source) -> str | None:
        for text in source.css(query).getall():
            if text and text.strip():
                return text
        return None

    return Fallback(name or query, read)


def xpath(query: str, name: str) -> Fallback:
    """The first non-blank text an XPath query matches: a row found by its label
    (``//tr[normalize-space(th)='Brand']/td//text()``), which CSS cannot say."""

    def read(source: Source) -> str | None:
        for text in source.selector.xpath(query).getall():
            if text and text.strip():
                return text
        return None

    return Fallback(name, read)


def joined(query: str, name: str | None = None) -> Fallback:
    """All text under the elements a CSS query matches, joined (``.a-price-whole`` + fraction)."""

    def read(source: Source) -> str | None:
        nodes = source.css(query)
        if not nodes:
            return None
        text = "".join(nodes[0].css("::text").getall()).strip()
        return text or None

    return Fallback(name or query, read)


def value(constant: Any, name: str) -> Fallback:
    """A value known without reading the page (the site's currency, say)."""
    return Fallback(name, lambda _source: constant)


@dataclass
class Extraction:
    """What one page (or one result card) yielded, field by field, and from which fallback."""

    page_type: str
    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)

    def get(self, name: str) -> Any:
        return self.values.get(name)

    def count_into(self, stats: StatsCollector) -> None:
        for name, source in self.sources.items():
            stats.inc_value(f"{STATS_PREFIX}/{self.page_type}/{name}/{source}")
        for name in self.missing:
            stats.inc_value(f"{STATS_PREFIX}/{self.page_type}/{name}/missing")


def extract(
    selector: Selector,
    page_type: str,
    chains: dict[str, tuple[Fallback, ...]],
    parsers: dict[str, Callable[[Any], Any]],
) -> Extraction:
    """Read every field of ``chains`` from ``selector``; ``parsers`` turn raw text into values."""
    result = Extraction(page_type)
    source = Source(selector)
    for name, chain in chains.items():
        parse = parsers.get(name, clean_text)
        for fallback in chain:
            raw = fallback.read(source)
            parsed = None if raw is None else parse(raw)
            if parsed is not None and parsed != "":
                result.values[name] = parsed
                result.sources[name] = fallback.name
                break
        else:
            result.missing.append(name)
    return result


# --- parsers: raw text -> typed value ---------------------------------------------------------


def clean_text(raw: Any) -> Any:
    """Fold white space; values that are not text pass through."""
    if not isinstance(raw, str):
        return raw
    text = " ".join(raw.split())
    return text or None


def parse_price(raw: Any) -> Decimal | None:
    """``"AED\xa01,299.00"``, ``"AED1,299.00"``, ``"8,999"``, ``1299.0`` -> a positive Decimal."""
    if isinstance(raw, (int, float, Decimal)) and not isinstance(raw, bool):
        amount = Decimal(str(raw))
    else:
        amount = Price.fromstring(clean_text(str(raw)) or "").amount
    if amount is None or amount <= 0:
        return None  # 0 is how noon's JSON-LD marks an item out of stock
    return amount.quantize(Decimal("0.01"))


def parse_currency(raw: Any) -> str | None:
    """``"AED 1,299.00"`` -> ``"AED"``; only three-letter codes count (a glyph names none)."""
    currency = Price.fromstring(clean_text(str(raw)) or "").currency
    if not currency:
        return None
    currency = currency.strip().upper()
    return currency if re.fullmatch(r"[A-Z]{3}", currency) else None


def parse_rating(raw: Any) -> Decimal | None:
    """``"4.3 out of 5 stars"`` or ``4.3`` -> ``Decimal("4.3")``, within 0..5."""
    match = _RATING.search(str(raw))
    if not match:
        return None
    try:
        rating = Decimal(match.group(1).replace(",", "."))
    except InvalidOperation:
        return None
    return rating if Decimal(0) <= rating <= Decimal(5) else None


def parse_count(raw: Any) -> int | None:
    """``"1,234 ratings"``, ``"(1,234)"``, ``1234`` -> 1234; an abbreviated count returns None."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    text = str(raw)
    if _ABBREVIATED.search(text):
        return None  # "(1.2K)" is not an exact count: let the next fallback answer
    match = _DIGITS.search(text)
    return int(match.group(0).replace(",", "")) if match else None


def parse_abbreviated_count(raw: Any) -> int | None:
    """``"(1.2K)"`` -> 1200 (the count as the page rounds it); plain numbers as :func:`parse_count`."""
    text = str(raw)
    match = _ABBREVIATED.search(text)
    if not match:
        return parse_count(raw)
    number = Decimal(match.group(1).replace(",", "."))
    return int(number * (1000 if match.group(2).upper() == "K" else 1_000_000))


def parse_text(raw: Any) -> str | None:
    """Text only (a JSON-LD object where a name was expected gives None), white space folded."""
    return clean_text(raw) if isinstance(raw, str) else None


def parse_gtin(raw: Any) -> str | None:
    """A GTIN-8/12/13/14 with a valid check digit (``"0194253 401 234"`` -> digits), else None."""
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        return None
    digits = re.sub(r"[\s-]", "", str(raw))
    if not digits.isdigit() or len(digits) not in (8, 12, 13, 14):
        return None
    body, check = digits[:-1], int(digits[-1])
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return digits if (10 - total % 10) % 10 == check else None


#: How a search result's common fields are read from their text (a spider adds its own ids).
RESULT_PARSERS: dict[str, Callable[[Any], Any]] = {
    "price": parse_price,
    "currency": parse_currency,
    "rating": parse_rating,
    "review_count": parse_abbreviated_count,
}


# --- structured data ---------------------------------------------------------------------------


def json_ld_objects(selector: Selector | SelectorList[Any]) -> Iterator[dict[str, Any]]:
    """Every JSON object of the page's ``application/ld+json`` scripts (``@graph`` unpacked)."""
    for text in selector.css('script[type="application/ld+json"]::text').getall():
        try:
            data = json.loads(text)
        except ValueError:
            logger.debug("unreadable JSON-LD block skipped")
            continue
        stack = data if isinstance(data, list) else [data]
        for entry in stack:
            if not isinstance(entry, dict):
                continue
            graph = entry.get("@graph")
            if isinstance(graph, list):
                yield from (node for node in graph if isinstance(node, dict))
            else:
                yield entry


def json_ld_product(selector: Selector) -> dict[str, Any] | None:
    """The page's JSON-LD ``Product``, if it has one."""
    for entry in json_ld_objects(selector):
        kind = entry.get("@type")
        if kind == "Product" or (isinstance(kind, list) and "Product" in kind):
            return entry
    return None


def json_path(data: Any, *path: str | int) -> Any:
    """``data[path[0]][path[1]]...``; a list where a dict is expected takes its first entry."""
    for key in path:
        if isinstance(data, list) and isinstance(key, str):
            data = data[0] if data and isinstance(data[0], dict) else None
        if isinstance(key, int):
            data = data[key] if isinstance(data, list) and len(data) > key else None
        elif isinstance(data, dict):
            data = data.get(key)
        else:
            return None
        if data is None:
            return None
    return data


def ld(*path: str | int, name: str | None = None) -> Fallback:
    """A value at ``path`` in the page's JSON-LD ``Product``."""

    def read(source: Source) -> Any:
        product = source.product
        return None if product is None else json_path(product, *path)

    return Fallback(name or "json-ld:" + ".".join(map(str, path)), read)
