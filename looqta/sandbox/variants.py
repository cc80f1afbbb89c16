"""Which markup variant a product is shown in: stable, seeded choices that tests can recompute.

The real sites mix layouts within one result page (an A/B test, a sponsored slot, an item out
of stock); the sandbox does too. Every choice is a pure function of a key (site, product id,
what is chosen), so a test asks this module which variant a product got instead of reading
the page.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from collections.abc import Sequence

T = TypeVar("T")

#: Share of products that have no offer to show (a card without price, "Currently unavailable").
NO_OFFER_SHARE = 0.03


def share(*key: object) -> float:
    """A number in [0, 1) fixed by ``key``."""
    digest = hashlib.blake2b(":".join(map(str, key)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def pick(options: Sequence[T], *key: object) -> T:
    """One of ``options``, fixed by ``key``."""
    return options[int(share(*key) * len(options))]


def has_offer(site: str, source_id: str) -> bool:
    """Whether the site shows a price for this product (about 97 % do)."""
    return share(site, source_id, "offer") >= NO_OFFER_SHARE


def build_hash(build: str, name: str) -> str:
    """The 5-character suffix a CSS-modules build gives class ``name`` (``Price_amount__x7Yq2``)."""
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    digest = hashlib.blake2b(f"{build}:{name}".encode(), digest_size=8).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest[:5])
