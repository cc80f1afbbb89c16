"""The matcher: pure decisions over :class:`~looqta.match.model.Offer` values.

Contract (implemented by the matching work; signatures fixed so the store side can be
built against them at the same time):

* :func:`blocking_keys` - the keys an offer is looked up by (brand, identifiers); two
  offers can only match when they share one. Store side indexes these.
* :func:`decide` - one pair: a :class:`Match` (rule + score) or ``None``. Precision first.
* :func:`assign` - one new offer against candidate products (id -> their offers, found
  through the blocking keys): the product it joins and the match that joined it, or
  ``None`` (it starts a product of its own).
* :func:`new_product_id` - the id of a product started by one offer (deterministic).
* :func:`group` - every offer into products; the canonical result that
  ``python -m looqta.match rebuild`` writes (order of the input does not matter).
* :func:`match_pairs` - two lists of offers into matched pairs (``python -m looqta.match pairs``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from looqta.match.model import Match, Offer, Product


def blocking_keys(offer: Offer) -> frozenset[str]:
    raise NotImplementedError


def decide(left: Offer, right: Offer) -> Match | None:
    raise NotImplementedError


def assign(offer: Offer, candidates: Mapping[str, Sequence[Offer]]) -> tuple[str, Match] | None:
    raise NotImplementedError


def new_product_id(offer: Offer) -> str:
    raise NotImplementedError


def group(offers: Iterable[Offer]) -> list[Product]:
    raise NotImplementedError


def match_pairs(left: Sequence[Offer], right: Sequence[Offer]) -> list[Match]:
    raise NotImplementedError
