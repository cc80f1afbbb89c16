"""Blocking: which offers are ever compared, and the deterministic product ids.

An offer is filed under its brand (read from the title when not given), its GTINs and its model
codes. Only offers sharing a key are compared, so the work grows with the square of a brand's
share, never with all pairs; pairs are judged as they are generated, not stored.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from typing import TYPE_CHECKING

from looqta.match.features import Features, features

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence

    from looqta.match.model import Offer


#: Offers whose features are remembered: ``assign`` reads a product's offers again for every
#: newcomer. A pure function of the offer's fields, so a memo and nothing more.
FEATURES_MEMO_SIZE = 50_000


@lru_cache(maxsize=FEATURES_MEMO_SIZE)
def _features(key: str, title: str, brand: str | None, gtin: str | None, model: str | None) -> Features:
    return features(key, title, brand, gtin, model)


def offer_features(offer: Offer) -> Features:
    return _features(offer.key, offer.title, offer.brand, offer.gtin, offer.model)


def keys_of(feats: Features) -> frozenset[str]:
    """Brand (``?`` when unknown; for an accessory the brand of the device it fits), the first word of
    the product line (titles without their brand share it), each GTIN and each model code."""
    keys = {f"fit:{feats.fit_brand or '?'}" if feats.accessory else f"brand:{feats.brand or '?'}"}
    keys |= {f"line:{feats.line}"} if feats.line else set()
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


def _bucket(feats: Features) -> tuple[bool, bool, frozenset[str]]:
    """What two offers must share exactly to match (condition, accessory or not, what is bundled);
    used to skip pairs the vetoes would refuse anyway."""
    return (feats.refurbished, bool(feats.accessory), feats.bundle)


def bucket_tag(feats: Features) -> str:
    """:func:`_bucket` as a part of a key (``nd``: new device, ``na``: new accessory, ``rd``: renewed
    device, ``nd-case`` ...: with what is bundled)."""
    refurbished, accessory, bundle = _bucket(feats)
    tag = ("r" if refurbished else "n") + ("a" if accessory else "d")
    return f"{tag}-{'+'.join(sorted(bundle))}" if bundle else tag


class Blocks:
    """Offers sorted by key (duplicates of a key dropped), their features and the key index.

    Within a key, offers are bucketed by what must be equal to match and by storage (an offer
    without a storage size is looked up in every storage bucket), so a lookup returns fewer
    offers the vetoes would refuse; the result is the same as comparing the whole block.
    """

    def __init__(self, offers: Iterable[Offer]) -> None:
        unique = {offer.key: offer for offer in sorted(offers, key=lambda o: (o.key, o.title))}
        self.features: list[Features] = [offer_features(unique[key]) for key in sorted(unique)]
        self.keys: list[frozenset[str]] = [keys_of(feats) for feats in self.features]
        self._index: dict[tuple[str, tuple[bool, bool, frozenset[str]]], dict[float | None, list[int]]] = {}
        for position, feats in enumerate(self.features):
            for key in sorted(self.keys[position]):
                by_storage = self._index.setdefault((key, _bucket(feats)), {})
                by_storage.setdefault(feats.storage_gb, []).append(position)

    def lookup(self, feats: Features, keys: Iterable[str]) -> list[int]:
        """Positions of offers filed under any of ``keys`` that ``feats`` could match, ascending."""
        found: set[int] = set()
        for key in keys:
            by_storage = self._index.get((key, _bucket(feats)), {})
            if feats.storage_gb is None:
                for positions in by_storage.values():
                    found.update(positions)
            else:
                found.update(by_storage.get(feats.storage_gb, ()))
                found.update(by_storage.get(None, ()))
        return sorted(found)

    def candidate_pairs(self) -> Iterator[tuple[int, int]]:
        """Each pair of positions that could match, once, ascending (generated, not stored)."""
        for i, feats in enumerate(self.features):
            for j in self.lookup(feats, self.keys[i]):
                if j > i:
                    yield i, j
