"""A STAND-IN matcher for the store-side tests: not looqta's matcher (that is ``looqta.match.engine``).

Rules any sane matcher agrees with: the same GTIN, or the same title once case and spacing are
folded, is one product; anything else is not. The store-side tests use only such titles, so they
hold with the real engine too. :func:`install` puts these functions in place of the engine's
(a pytest fixture through ``monkeypatch``, or a crawl subprocess at import).
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Any

from looqta.match import engine, placement
from looqta.match.model import Match, Product
from looqta.match.placement import Placement

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from looqta.match.model import Offer


def _title(offer: Offer) -> str:
    return " ".join(re.findall(r"[^\W_]+", offer.title.casefold()))


def blocking_keys(offer: Offer) -> frozenset[str]:
    keys = {f"title:{_title(offer)}"}
    if offer.gtin:
        keys.add(f"gtin:{offer.gtin}")
    return frozenset(keys)


def decide(left: Offer, right: Offer) -> Match | None:
    if left.gtin and left.gtin == right.gtin:
        return Match(left.key, right.key, 1.0, "standin-gtin")
    if _title(left) == _title(right):
        return Match(left.key, right.key, 1.0, "standin-title")
    return None


def assign(offer: Offer, candidates: Mapping[str, Sequence[Offer]]) -> tuple[str, Match] | None:
    for product_id in sorted(candidates):
        for other in sorted(candidates[product_id], key=lambda o: o.key):
            if (match := decide(offer, other)) is not None:
                return product_id, match
    return None


def new_product_id(offer: Offer) -> str:
    return "p" + hashlib.sha1(offer.key.encode()).hexdigest()[:16]


def group(offers: Iterable[Offer]) -> list[Product]:
    members: dict[str, list[Offer]] = {}
    matches: dict[str, list[Match]] = {}
    for offer in sorted(offers, key=lambda o: o.key):
        choice = assign(offer, members)
        if choice is None:
            product_id = new_product_id(offer)
            members[product_id], matches[product_id] = [offer], []
        else:
            members[choice[0]].append(offer)
            matches[choice[0]].append(choice[1])
    return [Product(pid, tuple(o.key for o in members[pid]), tuple(matches[pid])) for pid in sorted(members)]


def place(offer: Offer, candidates: Mapping[str, Sequence[Offer]]) -> Placement:
    choice = assign(offer, candidates)
    return Placement(None, None) if choice is None else Placement(choice[0], choice[1])


def install(patch: Any = None) -> None:
    """Put the stand-in in place of the engine's functions (``patch``: a pytest MonkeyPatch)."""
    for module, name in [
        *((engine, name) for name in ("blocking_keys", "decide", "assign", "new_product_id", "group")),
        (placement, "place"),
    ]:
        if patch is None:
            setattr(module, name, globals()[name])
        else:
            patch.setattr(module, name, globals()[name])
