"""What every site's titles share: the words a product's spec gives, and a plain title for sites
that declare no style of their own (``StandIn.title``). amazon's and noon's styles live beside
their stand-ins (``sites/amazon_titles.py``, ``sites/noon_titles.py``; evidence in docs/sites.md).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import random

    from looqta.sandbox.world import Spec

_STORAGE = re.compile(r"(\d+)(GB|TB|MP|mm)\b")


def spaced(text: str) -> str:
    """``256GB`` -> ``256 GB`` (how amazon writes a storage size)."""
    return _STORAGE.sub(r"\1 \2", text)


def variant(spec: Spec, rng: random.Random) -> str:
    """The product's variant, or the words a listing picks when its line has only words there."""
    return spec.variant or rng.choice(spec.family.variants_of(spec.model))


def capacity(spec: Spec, rng: random.Random) -> str:
    """The product's capacity, the words a listing picks, or "" for a model with none (a PS Portal)."""
    options = spec.family.capacities_of(spec.model)
    return spec.capacity or (rng.choice(options) if options else "")


def attributes(*words: str, sep: str = ", ") -> str:
    """The non-empty ``words`` joined by ``sep``."""
    return sep.join(word for word in words if word)


def plain_title(spec: Spec, rng: random.Random) -> str:
    """``Apple iPhone 15 Pro 5G, 256GB, Natural Titanium``: brand first, every attribute once."""
    if spec.kind == "accessory":
        return f"{spec.brand} {spec.style} {spec.extra} for {spec.fits}, {spec.colour}"
    title = f"{spec.brand} {spec.name} {attributes(variant(spec, rng), capacity(spec, rng), spec.colour)}"
    if spec.kind == "renewed":
        return f"{title} (Renewed)"
    return f"{title} {spec.extra}" if spec.kind == "bundle" else title
