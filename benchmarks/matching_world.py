"""The held-out matching set: the sandbox world's products as amazon and noon list them.

``looqta/sandbox/world.py`` and the site title modules were written by another engineer than the
matcher, after it, and the rules were not developed on them: this set is the check that the
rules hold beyond the set they were written with (``benchmarks/matching_set.py``). Truth is the
world's product key (the same key on both sites is the same product); the offers carry only the
title and the price, as a search page gives them. Figures per world kind (device, accessory,
renewed, bundle) and per category.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from looqta.match import engine
from looqta.match.model import Offer, offer_key
from looqta.sandbox.catalogue import Catalogue

if TYPE_CHECKING:
    from looqta.match.model import Match

SIDES = ("amazon", "noon")
#: The world's seed in every published figure (the catalogue's default).
WORLD_SEED = 1234


@dataclass(frozen=True)
class WorldOffer:
    offer: Offer
    product: str
    kind: str
    category: str


def build(per_site: int, seed: int = WORLD_SEED) -> dict[str, list[WorldOffer]]:
    """Each site's first ``per_site`` listings of the world of ``seed``."""
    sides: dict[str, list[WorldOffer]] = {}
    for side in SIDES:
        sides[side] = [
            WorldOffer(
                Offer(key=offer_key(side, p.source_id), site=side, title=p.title, price=p.price),
                p.key,
                p.spec.kind if p.spec else "device",
                p.category,
            )
            for p in Catalogue(side, per_site, seed).products
        ]
    return sides


def prf(true: int, predicted: int, possible: int) -> dict[str, Any]:
    """Precision, recall and F1 from counts (shared by both sets' reports)."""
    precision = true / predicted if predicted else 1.0
    recall = true / possible if possible else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "true": true,
        "predicted": predicted,
        "possible": possible,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def score(sides: dict[str, list[WorldOffer]], pairs: list[Match]) -> dict[str, Any]:
    """Precision, recall, F1 overall, per world kind and per category (a pair is filed under its
    left offer's kind and category; possible pairs per product are min(left copies, right copies))."""
    by_key = {o.offer.key: o for side in SIDES for o in sides[side]}
    copies = [Counter(o.product for o in sides[side]) for side in SIDES]
    first = {o.product: o for side in SIDES for o in sides[side]}
    rows: dict[str, dict[str, list[int]]] = {"overall": {}, "per_kind": {}, "per_category": {}}

    def add(product: WorldOffer, slot: int, amount: int) -> None:
        named = (("overall", "all"), ("per_kind", product.kind), ("per_category", product.category))
        for table, name in named:
            rows[table].setdefault(name, [0, 0, 0])[slot] += amount

    for product, count in copies[0].items():
        add(first[product], 2, min(count, copies[1][product]))
    wrong = []
    for pair in pairs:
        left, right = by_key[pair.left], by_key[pair.right]
        add(left, 1, 1)
        if left.product == right.product:
            add(left, 0, 1)
        else:
            wrong.append({"left": left.offer.title, "right": right.offer.title, "rule": pair.rule})
    result: dict[str, Any] = {
        table: {name: prf(*counts) for name, counts in sorted(by_name.items())}
        for table, by_name in rows.items()
    }
    result["overall"] = result["overall"]["all"]
    result["false_pairs"] = wrong[:20]
    return result


def run(per_site: int, seed: int = WORLD_SEED) -> dict[str, Any]:
    """The world set of ``per_site`` listings a site, matched and scored, with the wall time."""
    sides = build(per_site, seed)
    left, right = ([o.offer for o in sides[side]] for side in SIDES)
    wall = time.perf_counter()
    pairs = engine.match_pairs(left, right)
    seconds = time.perf_counter() - wall
    return {
        "seed": seed,
        "offers": len(left) + len(right),
        "match_pairs_seconds": seconds,
        "quality": score(sides, pairs),
    }


def table(result: dict[str, Any]) -> str:
    quality = result["quality"]
    lines = [
        f"world set (held out): {result['offers']} offers, seed {result['seed']}, "
        f"match_pairs {result['match_pairs_seconds']:.2f} s",
        "",
        "| world set | pairs possible | predicted | right | precision | recall | F1 |",
        "|---|---|---|---|---|---|---|",
    ]
    named = [("all", quality["overall"])]
    named += [(f"kind {k}", row) for k, row in quality["per_kind"].items()]
    named += [(f"category {k}", row) for k, row in quality["per_category"].items()]
    for name, row in named:
        lines.append(
            f"| {name} | {row['possible']} | {row['predicted']} | {row['true']} | {row['precision']:.4f} "
            f"| {row['recall']:.4f} | {row['f1']:.4f} |"
        )
    return "\n".join(lines)
