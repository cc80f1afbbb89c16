"""Products, not pairs: how right the groups are that the ``products`` collection holds.

``match_pairs`` is scored by ``benchmarks/matching.py``; a shopper sees products. Two ways make them:

* ``group`` - ``engine.group`` over every offer (what ``python -m looqta.match rebuild`` writes);
* ``incremental`` - offers arriving one at a time, each placed with ``placement.place`` among the
  products sharing a lookup key (``engine.lookup_keys``), its plan applied (a detached offer starts
  a product of its own): what matching as items arrive does (``looqta.match.incremental``) between
  two runs of the reconciler, without the store. Two arrival orders: the sites interleaved (two
  crawls at once) and one site after the other.

Scored on the world set (``benchmarks/matching_world.py``): every cross-site pair of offers inside
one product is a predicted pair; precision and recall against the world's product keys, and the
share of products listed on both sites that hold an offer of another product (a product page that
shows a wrong offer).
"""

from __future__ import annotations

import itertools
import time
from typing import TYPE_CHECKING, Any

from benchmarks import matching_world
from looqta.match import engine
from looqta.match.placement import place

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from looqta.match.model import Offer

ORDERS = ("interleaved", "site_by_site")


class Products:
    """Products in memory, found by the keys the store indexes (``engine.blocking_keys``)."""

    def __init__(self) -> None:
        self.members: dict[str, list[Offer]] = {}
        self.index: dict[str, set[str]] = {}

    def candidates(self, offer: Offer, exclude: str | None = None) -> dict[str, list[Offer]]:
        found = {
            pid for key in engine.lookup_keys(engine.blocking_keys(offer)) for pid in self.index.get(key, ())
        }
        return {pid: self.members[pid] for pid in sorted(found) if self.members.get(pid) and pid != exclude}

    def add(self, product_id: str, offer: Offer) -> None:
        self.members.setdefault(product_id, []).append(offer)
        for key in engine.blocking_keys(offer):
            self.index.setdefault(key, set()).add(product_id)

    def remove(self, product_id: str, offer_key: str) -> Offer:
        [offer] = [o for o in self.members[product_id] if o.key == offer_key]
        self.members[product_id].remove(offer)
        return offer

    def start(self, offer: Offer) -> None:
        product_id = engine.new_product_id(offer)
        while self.members.get(product_id):
            product_id += "~"
        self.add(product_id, offer)

    def place(self, offer: Offer) -> None:
        plan = place(offer, self.candidates(offer))
        for product_id, key in plan.detach:
            self.start(self.remove(product_id, key))
        if plan.product is None:
            self.start(offer)
        else:
            self.add(plan.product, offer)

    def groups(self) -> list[list[str]]:
        return [[o.key for o in offers] for offers in self.members.values() if offers]


def arrival(sides: dict[str, list[matching_world.WorldOffer]], order: str) -> list[Offer]:
    lefts, rights = ([o.offer for o in sides[side]] for side in matching_world.SIDES)
    if order == "site_by_site":
        return [*lefts, *rights]
    return [o for pair in itertools.zip_longest(lefts, rights) for o in pair if o is not None]


def score(
    sides: dict[str, list[matching_world.WorldOffer]], groups: Iterable[Sequence[str]]
) -> dict[str, Any]:
    truth = {o.offer.key: o.product for side in matching_world.SIDES for o in sides[side]}
    site = {o.offer.key: side for side in matching_world.SIDES for o in sides[side]}
    predicted = right = both_sites = impure = 0
    for group in groups:
        cross = [(a, b) for a, b in itertools.combinations(group, 2) if site[a] != site[b]]
        predicted += len(cross)
        right += sum(1 for a, b in cross if truth[a] == truth[b])
        if len({site[k] for k in group}) > 1:
            both_sites += 1
            impure += len({truth[k] for k in group}) > 1
    listed = [{o.product for o in sides[side]} for side in matching_world.SIDES]
    result = matching_world.prf(right, predicted, len(listed[0] & listed[1]))
    result |= {"products_on_both_sites": both_sites, "holding_another_product": impure}
    return result


def run(per_site: int, seed: int = matching_world.WORLD_SEED) -> dict[str, Any]:
    sides = matching_world.build(per_site, seed)
    offers = arrival(sides, "interleaved")
    found: dict[str, Any] = {"seed": seed, "offers": len(offers)}
    wall = time.perf_counter()
    grouped = engine.group(offers)
    found["group"] = score(sides, [p.offers for p in grouped]) | {"seconds": time.perf_counter() - wall}
    for order in ORDERS:
        products = Products()
        wall = time.perf_counter()
        for offer in arrival(sides, order):
            products.place(offer)
        found[f"incremental_{order}"] = score(sides, products.groups()) | {
            "seconds": time.perf_counter() - wall
        }
    return found


def table(result: dict[str, Any]) -> str:
    lines = [
        f"products (world set, {result['offers']} offers, seed {result['seed']}): cross-site pairs inside "
        "products",
        "",
        "| made by | pairs possible | predicted | right | precision | recall | F1 | products on both sites "
        "| holding another product | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in ("group", *(f"incremental_{order}" for order in ORDERS)):
        row = result[name]
        lines.append(
            f"| {name} | {row['possible']} | {row['predicted']} | {row['true']} | {row['precision']:.4f} "
            f"| {row['recall']:.4f} | {row['f1']:.4f} | {row['products_on_both_sites']} "
            f"| {row['holding_another_product']} | {row['seconds']:.1f} |"
        )
    return "\n".join(lines)
