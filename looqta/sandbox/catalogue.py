"""Seeded, deterministic product catalogues for the sandbox sites.

A ``Catalogue`` is one site's share of the seeded world (``world.py``): the first ``size``
products of the world that the site lists, each with the site's own id, title, price and
ratings. It is pure data: no I/O, no web framework. The same ``(site, size, seed)`` always yields
the same products (and a smaller ``size`` the first of them), so tests compute their
expectations from the catalogue itself. A product's ``key`` names it in the world: the same key
on two sites is the same product.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, replace
from decimal import Decimal

from looqta.sandbox import sites
from looqta.sandbox.world import Spec, world

_TOKEN_RE = re.compile(r"[0-9a-z]+")
_CENT = Decimal("0.01")
_TENTH = Decimal("0.1")
_NO_RATING_SHARE = 0.10
#: How far a site's price strays from the product's base price, either way.
PRICE_SPREAD = 0.08


def tokenize(text: str) -> list[str]:
    """Lower-case alphanumeric words; the same rule for titles and queries."""
    return _TOKEN_RE.findall(text.lower())


def slugify(text: str) -> str:
    return "-".join(tokenize(text))[:80].strip("-")


@dataclass(frozen=True)
class Product:
    site: str
    source_id: str
    title: str
    brand: str
    category: str
    price: Decimal
    currency: str = "AED"
    rating: Decimal | None = None
    review_count: int = 0
    slug: str = ""
    #: The product in the world (``World``): the same key on two sites is the same product.
    key: str = ""
    spec: Spec | None = None

    @property
    def model_code(self) -> str:
        return self.spec.model_code if self.spec else ""

    @property
    def gtin(self) -> str:
        return self.spec.gtin if self.spec else ""


@dataclass(frozen=True)
class SearchPage:
    query: str
    page: int
    page_size: int
    total: int
    products: list[Product]

    @property
    def pages(self) -> int:
        return math.ceil(self.total / self.page_size)

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


class Catalogue:
    """``size`` seeded products for one site, with an inverted index over title words."""

    def __init__(self, site: str, size: int = 10_000, seed: int = 1234) -> None:
        stand_in = sites.get(site)
        self._new_site_id, self._title = stand_in.new_id, stand_in.title
        if size < 0:
            raise ValueError("size must be >= 0")
        self.site = site
        self.size = size
        self.seed = seed
        rng = random.Random(f"{seed}:{site}")
        self.products: list[Product] = self._build(rng)
        self._by_id = {product.source_id: product for product in self.products}
        self._position = {product.source_id: i for i, product in enumerate(self.products)}
        self._index = self._build_index(self.products)

    def get(self, source_id: str) -> Product | None:
        return self._by_id.get(source_id)

    def set_price(self, source_id: str, price: Decimal) -> Product:
        """Change one product's price (the sandbox's price control); ``KeyError`` if unknown."""
        old = self._by_id[source_id]
        new = replace(old, price=price.quantize(_CENT))
        self.products[self._position[source_id]] = new
        self._by_id[source_id] = new
        return new

    def search_all(self, query: str) -> list[Product]:
        """Every product whose title has each query token as a whole word, in catalogue order."""
        return [self.products[i] for i in self._match(query)]

    def search(self, query: str, page: int = 1, page_size: int = 20) -> SearchPage:
        if page < 1 or page_size < 1:
            raise ValueError("page and page_size must be >= 1")
        positions = self._match(query)
        start = (page - 1) * page_size
        chosen = [self.products[i] for i in positions[start : start + page_size]]
        return SearchPage(query, page, page_size, len(positions), chosen)

    def _match(self, query: str) -> list[int]:
        tokens = set(tokenize(query))
        if not tokens:
            return []
        postings = sorted((self._index.get(token, ()) for token in tokens), key=len)
        first, rest = postings[0], [set(p) for p in postings[1:]]
        return [i for i in first if all(i in other for other in rest)]

    @staticmethod
    def _build_index(products: list[Product]) -> dict[str, tuple[int, ...]]:
        index: dict[str, list[int]] = {}
        for position, product in enumerate(products):
            # Sites search their brand field too: a title without its brand still matches.
            for token in set(tokenize(f"{product.title} {product.brand}")):
                index.setdefault(token, []).append(position)
        return {token: tuple(positions) for token, positions in index.items()}

    def _build(self, rng: random.Random) -> list[Product]:
        seen: set[str] = set()
        products: list[Product] = []
        shared = world(self.seed)
        for spec in shared:
            if len(products) >= self.size:
                break
            if shared.listed(spec, self.site):
                products.append(self._product(spec, rng, seen))
        return products

    def _product(self, spec: Spec, rng: random.Random, seen: set[str]) -> Product:
        source_id = self._new_id(rng, seen)
        title = self._title(spec, rng)
        factor = Decimal(str(round(rng.uniform(1 - PRICE_SPREAD, 1 + PRICE_SPREAD), 4)))
        price = (spec.base_price * factor).quantize(_CENT)
        if rng.random() < _NO_RATING_SHARE:
            rating, review_count = None, 0
        else:
            rating = Decimal(str(round(rng.triangular(2.5, 5.0, 4.4), 1))).quantize(_TENTH)
            review_count = min(int(rng.lognormvariate(5.0, 1.6)) + 1, 48_000)
        return Product(
            site=self.site,
            source_id=source_id,
            title=title,
            brand=spec.brand,
            category=spec.category,
            price=price,
            rating=rating,
            review_count=review_count,
            slug=slugify(title),
            key=spec.key,
            spec=spec,
        )

    def _new_id(self, rng: random.Random, seen: set[str]) -> str:
        while True:
            source_id = self._new_site_id(rng)
            if source_id not in seen:
                seen.add(source_id)
                return source_id
