"""``python -m looqta.match pairs LEFT.jsonl RIGHT.jsonl``: two files of offers in, matched pairs out.

Each line of a file is one JSON object ``{"id", "title", "brand"?, "price"?, "gtin"?, "model"?}``;
blank lines are skipped. Each matched pair comes out as ``{"left", "right", "score", "rule"}``
(ids as given), in the order of the left file's ids, so any labelled set can be scored with it.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from looqta.match.engine import match_pairs
from looqta.match.model import Offer, offer_key

if TYPE_CHECKING:
    from pathlib import Path

SIDES = ("left", "right")
_OPTIONAL_TEXT = ("brand", "gtin", "model")


class OffersFileError(ValueError):
    """A file of offers that cannot be read; the message names the file and the line."""


def _text(record: dict[str, Any], name: str, where: str, *, required: bool) -> str | None:
    value = record.get(name)
    if value is None and not required:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and name in ("id", "gtin"):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        wanted = "a non-empty string" if required else "a string or absent"
        raise OffersFileError(f"{where}: {name!r} must be {wanted}, got {value!r}")
    return value.strip()


def _price(value: Any, where: str) -> Decimal | None:
    if value is None:
        return None
    try:
        if isinstance(value, bool):
            raise InvalidOperation
        return Decimal(str(value))
    except InvalidOperation:
        raise OffersFileError(f"{where}: 'price' must be a number, got {value!r}") from None


def parse_line(line: str, side: str, where: str) -> tuple[str, Offer]:
    """One line into (the id as given, its offer keyed ``<side>:<id>``)."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as error:
        raise OffersFileError(f"{where}: not JSON ({error.msg})") from None
    if not isinstance(record, dict):
        raise OffersFileError(f"{where}: a JSON object is needed, got {type(record).__name__}")
    source_id = _text(record, "id", where, required=True)
    title = _text(record, "title", where, required=True)
    assert source_id is not None
    assert title is not None
    brand, gtin, model = (_text(record, name, where, required=False) for name in _OPTIONAL_TEXT)
    offer = Offer(
        key=offer_key(side, source_id),
        site=side,
        title=title,
        brand=brand,
        price=_price(record.get("price"), where),
        gtin=gtin,
        model=model,
    )
    return source_id, offer


def read_offers(path: Path, side: str) -> dict[str, Offer]:
    """Offer key -> offer for every line of ``path``; a repeated id is an error."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise OffersFileError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise OffersFileError(f"{path}: cannot read ({error})") from None
    offers: dict[str, Offer] = {}
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        source_id, offer = parse_line(line, side, where)
        if source_id in seen:
            raise OffersFileError(f"{where}: id {source_id!r} already on line {seen[source_id]}")
        seen[source_id] = number
        offers[offer.key] = offer
    return offers


def pairs(left_path: Path, right_path: Path) -> list[dict[str, Any]]:
    """The matched pairs of the two files, as the JSON objects the command prints."""
    left = read_offers(left_path, SIDES[0])
    right = read_offers(right_path, SIDES[1])
    return [
        {
            "left": match.left.removeprefix(f"{SIDES[0]}:"),
            "right": match.right.removeprefix(f"{SIDES[1]}:"),
            "score": match.score,
            "rule": match.rule,
        }
        for match in match_pairs(list(left.values()), list(right.values()))
    ]
