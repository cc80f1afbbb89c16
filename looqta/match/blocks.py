"""Blocking: which offers are ever compared, and the deterministic product ids.

An offer is filed under its brand (read from the title when not given), its GTINs and its model
codes. Only offers sharing a key are compared, so the work grows with the square of a brand's
share, never with all pairs; pairs are judged as they are generated, not stored.
"""

from __future__ import annotations

import hashlib
from itertools import combinations
from typing import TYPE_CHECKING

from looqta.match.features import Features, features

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from looqta.match.model import Offer


def offer_features(offer: Offer) -> Features:
    return features(offer.key, offer.title, offer.brand, offer.gtin, offer.model)


def keys_of(feats: Features) -> frozenset[str]:
    """Brand (``?`` when unknown), each GTIN and each model code."""
    keys = {f"brand:{feats.brand or '?'}"}
    keys |= {f"gtin:{g}" for g in feats.gtins} | {f"code:{c}" for c in feats.codes}
    return frozenset(keys)


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def product_ids(groups: Sequence[Sequence[Features]]) -> list[str]:
    """One id per group, in order: from the group's smallest GTIN (``g-…``) unless an earlier group
    took it, else from its smallest offer key (``o-…``). Codes are not used: one code (SM-S928B)
    spans storage and colour variants, so it would give two products one id."""
    taken: set[str] = set()
    ids: list[str] = []
    for group in groups:
        gtins = sorted(g for feats in group for g in feats.gtins)
        pid = next((f"g-{_digest(g)}" for g in gtins if f"g-{_digest(g)}" not in taken), None)
        if pid is None:
            pid = f"o-{_digest(min(feats.key for feats in group))}"
        taken.add(pid)
        ids.append(pid)
    return ids


class Blocks:
    """Offers sorted by key (duplicates of a key dropped), their features and the key index."""

    def __init__(self, offers: Iterable[Offer]) -> None:
        unique = {offer.key: offer for offer in sorted(offers, key=lambda o: (o.key, o.title))}
        self.features: list[Features] = [offer_features(unique[key]) for key in sorted(unique)]
        self.index: dict[str, list[int]] = {}
        for position, feats in enumerate(self.features):
            for key in sorted(keys_of(feats)):
                self.index.setdefault(key, []).append(position)

    def lookup(self, keys: Iterable[str]) -> list[int]:
        """Positions of offers filed under any of ``keys``, ascending."""
        return sorted({p for key in keys for p in self.index.get(key, ())})

    def candidate_pairs(self) -> list[tuple[int, int]]:
        """Each pair of positions that share a key, once, ascending."""
        pairs: set[tuple[int, int]] = set()
        for positions in self.index.values():
            pairs.update(combinations(positions, 2))
        return sorted(pairs)
