"""Seeded, deterministic product catalogues for the sandbox sites.

A ``Catalogue`` is pure data: no I/O, no web framework. The same ``(site, size, seed)`` always
yields the same products, so tests compute their expectations from the catalogue itself.
"""

from __future__ import annotations

import math
import random
import re
import string
from dataclasses import dataclass
from decimal import Decimal

SITES: tuple[str, ...] = ("amazon", "noon")

_TOKEN_RE = re.compile(r"[0-9a-z]+")
_CENT = Decimal("0.01")
_TENTH = Decimal("0.1")
_NO_RATING_SHARE = 0.10


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


@dataclass(frozen=True)
class _Family:
    """One product line: every title of the family is built from these choices."""

    category: str
    brand: str
    line: str
    models: tuple[str, ...]
    variants: tuple[str, ...]
    capacities: tuple[str, ...]
    colours: tuple[str, ...]
    price_range: tuple[int, int]
    weight: float = 1.0


_PHONE_COLOURS = ("Black", "White", "Blue", "Green", "Natural Titanium", "Pink", "Purple")
_DARK_LIGHT = ("Black", "Silver", "Space Grey", "White")
_PHONE_STORAGE = ("128GB", "256GB", "512GB", "1TB")
_RAM_SSD = ("8GB RAM 256GB SSD", "16GB RAM 512GB SSD", "16GB RAM 1TB SSD", "32GB RAM 1TB SSD")

_FAMILIES: tuple[_Family, ...] = (
    _Family(
        "phone",
        "Apple",
        "iPhone",
        ("15", "15 Pro", "15 Pro Max", "14", "16"),
        ("5G", "Dual SIM", "eSIM"),
        _PHONE_STORAGE,
        _PHONE_COLOURS,
        (2499, 6999),
        0.25,
    ),
    _Family(
        "phone",
        "Samsung",
        "Galaxy",
        ("S24", "S24 Ultra", "A55", "Z Flip5", "Z Fold5"),
        ("5G", "Dual SIM", "LTE"),
        _PHONE_STORAGE,
        _PHONE_COLOURS,
        (999, 7499),
    ),
    _Family(
        "phone",
        "Google",
        "Pixel",
        ("8", "8 Pro", "8a", "7a"),
        ("5G", "Unlocked"),
        ("128GB", "256GB"),
        ("Obsidian", "Hazel", "Porcelain", "Bay"),
        (1599, 4299),
    ),
    _Family(
        "phone",
        "Xiaomi",
        "Redmi Note",
        ("13", "13 Pro", "13 Pro Plus", "12"),
        ("4G", "5G", "Dual SIM"),
        ("128GB", "256GB", "512GB"),
        ("Midnight Black", "Ocean Teal", "Aurora Purple"),
        (599, 1899),
    ),
    _Family(
        "phone",
        "OnePlus",
        "Nord",
        ("CE 3", "3", "4"),
        ("5G", "Dual SIM"),
        ("128GB", "256GB"),
        ("Tempest Grey", "Misty Green"),
        (899, 1999),
    ),
    _Family(
        "laptop",
        "Apple",
        "MacBook",
        ("Air M2", "Air M3", "Pro M3", "Pro M3 Max"),
        ("13-inch", "15-inch", "14-inch", "16-inch"),
        _RAM_SSD,
        _DARK_LIGHT,
        (3999, 14999),
    ),
    _Family(
        "laptop",
        "Dell",
        "XPS",
        ("13", "15", "17"),
        ("Laptop", "Touchscreen Laptop"),
        _RAM_SSD,
        ("Platinum Silver", "Graphite"),
        (4299, 11999),
    ),
    _Family(
        "laptop",
        "Lenovo",
        "ThinkPad",
        ("X1 Carbon", "T14", "E14", "X13 Yoga"),
        ("Business Laptop", "Gen 11", "Gen 4"),
        _RAM_SSD,
        ("Black", "Storm Grey"),
        (2999, 9999),
    ),
    _Family(
        "laptop",
        "HP",
        "Pavilion",
        ("15", "14", "x360"),
        ("Laptop", "Gaming Laptop"),
        _RAM_SSD,
        ("Natural Silver", "Fog Blue"),
        (1999, 4999),
    ),
    _Family(
        "laptop",
        "ASUS",
        "ZenBook",
        ("14 OLED", "S 13", "Duo"),
        ("Laptop", "Ultrabook"),
        _RAM_SSD,
        ("Jade Black", "Ponder Blue"),
        (2799, 8999),
    ),
    _Family(
        "headphones",
        "Sony",
        "WH",
        ("1000XM5", "1000XM4", "CH720N"),
        ("Wireless Noise Cancelling Headphones", "Over-Ear Headphones"),
        ("30 Hours Battery", "Bluetooth 5.2"),
        ("Black", "Silver", "Midnight Blue"),
        (299, 1599),
    ),
    _Family(
        "headphones",
        "Bose",
        "QuietComfort",
        ("45", "Ultra", "Earbuds II"),
        ("Wireless Headphones", "Noise Cancelling Earbuds"),
        ("Bluetooth", "USB-C"),
        ("Black", "White Smoke", "Sandstone"),
        (699, 1699),
    ),
    _Family(
        "headphones",
        "Apple",
        "AirPods",
        ("Pro 2nd Generation", "3rd Generation", "Max"),
        ("with MagSafe Case", "with Lightning Case"),
        ("USB-C", "Lightning"),
        ("White", "Space Grey", "Sky Blue"),
        (599, 2499),
        0.6,
    ),
    _Family(
        "headphones",
        "JBL",
        "Tune",
        ("760NC", "520BT", "Flex"),
        ("Wireless Headphones", "True Wireless Earbuds"),
        ("Bluetooth 5.3", "USB-C"),
        ("Black", "Blue", "White"),
        (149, 499),
    ),
    _Family(
        "tv",
        "Samsung",
        "Crystal UHD",
        ("55-inch CU7000", "65-inch CU8000", "75-inch CU7000"),
        ("Smart TV", "4K Smart TV"),
        ("2023 Model", "2024 Model"),
        ("Titan Grey", "Black"),
        (1499, 5499),
    ),
    _Family(
        "tv",
        "LG",
        "OLED",
        ("evo C3 55-inch", "evo C3 65-inch", "B3 77-inch"),
        ("4K Smart TV", "webOS Smart TV"),
        ("2023 Model", "2024 Model"),
        ("Black",),
        (3999, 14999),
    ),
    _Family(
        "tv",
        "Sony",
        "Bravia",
        ("X80L 55-inch", "X90L 65-inch", "A80L 77-inch"),
        ("Google TV", "4K HDR Smart TV"),
        ("2023 Model",),
        ("Black",),
        (2999, 15999),
    ),
    _Family(
        "tv",
        "TCL",
        "QLED",
        ("C645 55-inch", "C745 65-inch", "P735 50-inch"),
        ("Google TV", "4K Smart TV"),
        ("2023 Model", "2024 Model"),
        ("Black",),
        (1199, 3999),
    ),
    _Family(
        "watch",
        "Apple",
        "Watch",
        ("Series 9", "SE", "Ultra 2"),
        ("GPS", "GPS + Cellular"),
        ("41mm", "45mm", "49mm"),
        ("Midnight", "Starlight", "Silver", "Product Red"),
        (999, 3499),
    ),
    _Family(
        "watch",
        "Samsung",
        "Galaxy Watch",
        ("6", "6 Classic", "FE"),
        ("Bluetooth", "LTE"),
        ("40mm", "44mm", "47mm"),
        ("Graphite", "Silver", "Gold"),
        (699, 1799),
    ),
    _Family(
        "watch",
        "Garmin",
        "Forerunner",
        ("265", "965", "55"),
        ("GPS Running Smartwatch",),
        ("AMOLED", "MIP Display"),
        ("Black", "Whitestone", "Aqua"),
        (899, 2699),
    ),
    _Family(
        "watch",
        "Huawei",
        "Watch GT",
        ("4", "3 Pro"),
        ("Smartwatch", "Classic"),
        ("41mm", "46mm"),
        ("Black", "Brown Leather", "Green"),
        (699, 1499),
    ),
    _Family(
        "tablet",
        "Apple",
        "iPad",
        ("Air", "Pro 11-inch", "Pro 12.9-inch", "mini"),
        ("Wi-Fi", "Wi-Fi + Cellular"),
        ("64GB", "128GB", "256GB", "512GB"),
        ("Space Grey", "Starlight", "Purple", "Blue"),
        (1699, 6499),
        0.6,
    ),
    _Family(
        "tablet",
        "Samsung",
        "Galaxy Tab",
        ("S9", "S9 FE", "A9 Plus"),
        ("Wi-Fi", "5G"),
        ("128GB", "256GB"),
        ("Graphite", "Beige", "Mint"),
        (699, 3999),
    ),
    _Family(
        "tablet",
        "Lenovo",
        "Tab",
        ("P11", "M10 Plus", "P12"),
        ("Wi-Fi", "LTE"),
        ("64GB", "128GB"),
        ("Storm Grey", "Oat"),
        (599, 1799),
    ),
    _Family(
        "camera",
        "Canon",
        "EOS",
        ("R50", "R8", "R6 Mark II"),
        ("Mirrorless Camera", "with RF 24-105mm Lens"),
        ("24.2MP", "45MP"),
        ("Black",),
        (2499, 11999),
    ),
    _Family(
        "camera",
        "Sony",
        "Alpha",
        ("a7 IV", "a6400", "ZV-E10"),
        ("Mirrorless Camera", "with 16-50mm Lens"),
        ("24.2MP", "33MP"),
        ("Black", "White"),
        (2499, 9999),
    ),
    _Family(
        "camera",
        "Fujifilm",
        "X",
        ("T5", "S20", "100VI"),
        ("Mirrorless Camera", "Body Only"),
        ("26.1MP", "40.2MP"),
        ("Black", "Silver"),
        (3499, 7999),
    ),
    _Family(
        "speaker",
        "JBL",
        "Charge",
        ("5", "Flip 6", "Go 3"),
        ("Portable Bluetooth Speaker",),
        ("IP67 Waterproof", "20 Hours Playtime"),
        ("Black", "Blue", "Red", "Teal"),
        (149, 699),
    ),
    _Family(
        "speaker",
        "Amazon",
        "Echo",
        ("Dot 5th Gen", "Show 8", "Pop"),
        ("Smart Speaker with Alexa", "Smart Display"),
        ("Wi-Fi", "Bluetooth"),
        ("Charcoal", "Glacier White", "Deep Sea Blue"),
        (149, 699),
    ),
    _Family(
        "console",
        "Sony",
        "PlayStation",
        ("5 Slim", "5 Digital Edition", "Portal"),
        ("Console", "Bundle"),
        ("1TB", "825GB"),
        ("White", "Midnight Black"),
        (799, 2499),
    ),
    _Family(
        "console",
        "Microsoft",
        "Xbox",
        ("Series X", "Series S"),
        ("Console",),
        ("1TB", "512GB"),
        ("Black", "Robot White"),
        (1099, 2199),
    ),
    _Family(
        "console",
        "Nintendo",
        "Switch",
        ("OLED Model", "Lite"),
        ("Console", "Bundle"),
        ("64GB", "32GB"),
        ("Neon Red and Blue", "White", "Turquoise"),
        (699, 1499),
    ),
    _Family(
        "accessory",
        "Anker",
        "PowerCore",
        ("10000", "20000", "737"),
        ("Power Bank", "Portable Charger"),
        ("PD 20W", "PD 65W", "USB-C"),
        ("Black", "White"),
        (59, 399),
    ),
    _Family(
        "accessory",
        "Logitech",
        "MX",
        ("Master 3S", "Keys S", "Anywhere 3"),
        ("Wireless Mouse", "Wireless Keyboard"),
        ("Bluetooth", "USB Receiver"),
        ("Graphite", "Pale Grey"),
        (199, 599),
    ),
)

_FAMILY_WEIGHTS = tuple(family.weight for family in _FAMILIES)


class Catalogue:
    """``size`` seeded products for one site, with an inverted index over title words."""

    def __init__(self, site: str, size: int = 10_000, seed: int = 1234) -> None:
        if site not in SITES:
            raise ValueError(f"unknown site {site!r}; expected one of {SITES}")
        if size < 0:
            raise ValueError("size must be >= 0")
        self.site = site
        self.size = size
        self.seed = seed
        rng = random.Random(f"{seed}:{site}")
        self.products: list[Product] = self._build(rng)
        self._by_id = {product.source_id: product for product in self.products}
        self._index = self._build_index(self.products)

    def get(self, source_id: str) -> Product | None:
        return self._by_id.get(source_id)

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
            for token in set(tokenize(product.title)):
                index.setdefault(token, []).append(position)
        return {token: tuple(positions) for token, positions in index.items()}

    def _build(self, rng: random.Random) -> list[Product]:
        families = rng.choices(_FAMILIES, weights=_FAMILY_WEIGHTS, k=self.size)
        seen: set[str] = set()
        products = []
        for family in families:
            source_id = self._new_id(rng, seen)
            title = (
                f"{family.brand} {family.line} {rng.choice(family.models)} "
                f"{rng.choice(family.variants)}, {rng.choice(family.capacities)}, "
                f"{rng.choice(family.colours)}"
            )
            low, high = family.price_range
            price = (Decimal(rng.randint(low * 100, high * 100)) / 100).quantize(_CENT)
            if rng.random() < _NO_RATING_SHARE:
                rating, review_count = None, 0
            else:
                rating = Decimal(str(round(rng.triangular(2.5, 5.0, 4.4), 1))).quantize(_TENTH)
                review_count = min(int(rng.lognormvariate(5.0, 1.6)) + 1, 48_000)
            products.append(
                Product(
                    site=self.site,
                    source_id=source_id,
                    title=title,
                    brand=family.brand,
                    category=family.category,
                    price=price,
                    rating=rating,
                    review_count=review_count,
                    slug=slugify(title),
                )
            )
        return products

    def _new_id(self, rng: random.Random, seen: set[str]) -> str:
        while True:
            if self.site == "amazon":
                source_id = "B0" + "".join(rng.choices(_ASIN_ALPHABET, k=8))
            else:
                source_id = (
                    "N" + "".join(rng.choices(string.digits, k=8)) + rng.choice(string.ascii_uppercase)
                )
            if source_id not in seen:
                seen.add(source_id)
                return source_id


_ASIN_ALPHABET = string.ascii_uppercase + string.digits
