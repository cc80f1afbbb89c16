"""One seeded world of products that every sandbox site sells a share of.

A :class:`Spec` is one product as the manufacturer knows it: brand, line, model, variant, capacity,
colour, model number and GTIN; or an accessory made for a device, a renewed device, a bundle. The
world draws them in a fixed order from the product lines (``families.py``, ``extras.py``), each one
once and each model only in the options it is really sold in (``families.Model``); a site lists each
with a fixed chance (:meth:`World.listed`), so most products are on both sites, some on one only, and
a storage or colour sibling can be on one site while its sibling is on the other. How each site
titles a product is the site's business (``StandIn.title``).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from looqta.sandbox.extras import ACCESSORIES, BUNDLES, WORDS_ONLY
from looqta.sandbox.families import FAMILIES, FAMILY_WEIGHTS, Family
from looqta.sandbox.identifiers import gtin13, model_code
from looqta.sandbox.variants import share

if TYPE_CHECKING:
    from collections.abc import Iterator

#: Chance that a site lists a product of the world (each site drawn on its own): about 64 % of
#: products are on both of two sites, 32 % on one only.
LISTED_SHARE = 0.8
#: What a draw from a product line becomes. A line with none of that kind left (its devices run out
#: first: a few dozen per line) gives an accessory, else a device; so accessories are most of the
#: world, as they are of the real sites' results.
KIND_SHARES: tuple[tuple[str, float], ...] = (
    ("device", 0.62),
    ("accessory", 0.26),
    ("renewed", 0.07),
    ("bundle", 0.05),
)
KINDS = tuple(kind for kind, _ in KIND_SHARES)
_KIND_CUMULATIVE = tuple(itertools.accumulate(weight for _, weight in KIND_SHARES))
_FAMILY_CUMULATIVE = tuple(itertools.accumulate(FAMILY_WEIGHTS))
_FAMILY_TOTAL = _FAMILY_CUMULATIVE[-1]
_ACCESSORY_PRICES = {(c, a.kind): a.price_range for c, kinds in ACCESSORIES.items() for a in kinds}
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class Spec:
    """One product of the world. Accessories: ``brand`` is the maker, ``fits`` the device
    ("Apple iPhone 15 Pro"), ``extra`` the accessory type and ``style`` its style. Bundles:
    ``extra`` is what the bundle adds. Empty ``variant`` / ``capacity``: only words a listing picks
    (``family.variants`` / ``family.capacities``), not another product."""

    key: str
    kind: str
    category: str
    brand: str
    line: str
    model: str
    variant: str
    capacity: str
    colour: str
    base_price: Decimal
    family: Family
    fits: str = ""
    extra: str = ""
    style: str = ""
    #: What fixes the identifiers: the device (a renewed phone keeps its model number) or the accessory.
    ids: str = ""

    @functools.cached_property
    def model_code(self) -> str:
        """The manufacturer's model number (``MTUV3AH/A``, ``SM-S928B``)."""
        return model_code(self.brand, self.ids)

    @functools.cached_property
    def gtin(self) -> str:
        """The EAN-13; none for renewed listings and bundles (no manufacturer's barcode of their own)."""
        return "" if self.kind in ("renewed", "bundle") else gtin13(self.brand, self.ids)

    @property
    def name(self) -> str:
        """The device's name without its brand: ``iPhone 15 Pro``."""
        return self.family.name(self.model)

    @property
    def device(self) -> tuple[str, str, str]:
        """The device a product is or belongs to: siblings share it (brand, line, model)."""
        return (self.family.brand, self.family.line, self.model)


class World:
    """The products of seed ``seed``, drawn on demand in a fixed order (:meth:`spec`)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._rng = random.Random(f"{seed}:world")
        self._specs: list[Spec] = []
        self._pools: dict[tuple[int, str], list[tuple[Any, ...]]] = {}

    def spec(self, index: int) -> Spec:
        while len(self._specs) <= index:
            self._specs.append(self._draw(len(self._specs)))
        return self._specs[index]

    def __iter__(self) -> Iterator[Spec]:
        for index in itertools.count():
            yield self.spec(index)

    def listed(self, spec: Spec, site: str) -> bool:
        """Whether ``site`` sells ``spec`` (a fixed draw per seed, product and site)."""
        return share(self.seed, spec.key, site, "listed") < LISTED_SHARE

    # drawing ---------------------------------------------------------------------------------

    def _draw(self, index: int) -> Spec:
        rng = self._rng
        for _ in range(100 * len(FAMILIES)):
            number = min(bisect.bisect(_FAMILY_CUMULATIVE, rng.random() * _FAMILY_TOTAL), len(FAMILIES) - 1)
            kind = KINDS[min(bisect.bisect(_KIND_CUMULATIVE, rng.random()), len(KINDS) - 1)]
            for attempt in dict.fromkeys((kind, "accessory", "device")):
                pool = self._pool(number, attempt)
                if pool:
                    return self._spec(index, FAMILIES[number], attempt, pool.pop())
        raise ValueError(
            f"the sandbox world holds {index} products and a site lists about {LISTED_SHARE:.0%} of them:"
            " ask for fewer products per site"
        )

    def _pool(self, number: int, kind: str) -> list[tuple[Any, ...]]:
        """The products of line ``number`` and ``kind`` not drawn yet, in a seeded order."""
        pool = self._pools.get((number, kind))
        if pool is None:
            pool = list(_combos(FAMILIES[number], number, kind))
            random.Random(f"{self.seed}:{number}:{kind}").shuffle(pool)
            self._pools[(number, kind)] = pool
        return pool

    def _spec(self, index: int, family: Family, kind: str, combo: tuple[Any, ...]) -> Spec:
        key = f"W{index:06d}"
        if kind == "accessory":
            _, _, model, extra, maker, style, colour = combo
            price = _price(self._rng, *_ACCESSORY_PRICES[family.category, extra])
            return Spec(
                key, kind, family.category, maker, family.line, model, "", "", colour, price, family,
                fits=f"{family.brand} {family.name(model)}", extra=extra, style=style,
                ids=f"{self.seed}:{combo}",
            )  # fmt: skip
        _, _, model, variant, capacity, colour, extra = combo
        price = _price(self._rng, *family.price_range)
        if kind == "renewed":
            price = (price * Decimal("0.78")).quantize(_CENT)
        elif kind == "bundle":
            price = (price * Decimal("1.12")).quantize(_CENT)
        return Spec(
            key, kind, family.category, family.brand, family.line, model, variant, capacity, colour,
            price, family, extra=extra, ids=f"{self.seed}:{combo[1:6]}",
        )  # fmt: skip


def _combos(family: Family, number: int, kind: str) -> Iterator[tuple[Any, ...]]:
    """Every product of ``kind`` the line makes: each combination of what tells products apart."""
    words_variant, words_capacity = WORDS_ONLY.get((family.brand, family.line), (False, False))
    if kind == "accessory":
        # One accessory fits every model of one name (an Xbox Series S of 512 GB or 1 TB).
        named = {family.name(model): model for model in reversed(family.models)}
        models = sorted(named.values(), key=family.models.index)
        for model, accessory in itertools.product(models, ACCESSORIES.get(family.category, ())):
            for made in itertools.product(accessory.makers, accessory.styles, accessory.colours):
                yield ("accessory", number, model, accessory.kind, *made)
        return
    extras = BUNDLES.get(family.category, ()) if kind == "bundle" else ("",)
    for model in family.models:
        # A model is sold only in its own options (an X-S20 has 26.1 MP, not the line's 40.2 MP).
        variants = ("",) if words_variant else family.variants_of(model)
        capacities = ("",) if words_capacity else family.capacities_of(model) or ("",)
        for device in itertools.product(variants, capacities, family.colours_of(model), extras):
            yield (kind, number, model, *device)


def _price(rng: random.Random, low: int, high: int) -> Decimal:
    return Decimal(rng.randint(low * 100, high * 100)).scaleb(-2)


@functools.lru_cache(maxsize=8)
def world(seed: int) -> World:
    """The world of ``seed``, shared by the catalogues of every site (it only grows)."""
    return World(seed)
