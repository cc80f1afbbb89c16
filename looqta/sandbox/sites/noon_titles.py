"""noon's product titles (docs/sites.md, "How each site titles a product").

Attributes run together without commas, storage unspaced (``256GB``), the brand often left out
(``iPhone 15 Pro 256GB Natural Titanium 5G With FaceTime - Middle East Version``), phones end
with their network and "- Middle East Version", TVs and laptops often carry the model number in
the title, accessories name the device they fit ("... Cover For Apple iPhone 15 Pro").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from looqta.sandbox.extras import NO_NAME
from looqta.sandbox.titles import attributes, capacity, variant

if TYPE_CHECKING:
    import random

    from looqta.sandbox.world import Spec

#: The regional suffixes noon phone titles carry (the same product either way).
VERSIONS = ("Middle East Version", "UAE Version")
#: What an iPhone's variant reads as on noon.
APPLE_PHONE_VARIANTS = {
    "5G": "5G With FaceTime",
    "Dual SIM": "Dual SIM 5G With FaceTime",
    "eSIM": "eSIM 5G With FaceTime",
}


def _brand(spec: Spec, rng: random.Random, share: float) -> str:
    return f"{spec.brand} " if rng.random() < share else ""


def _device(spec: Spec, rng: random.Random) -> str:
    kind, size, colour = variant(spec, rng), capacity(spec, rng), spec.colour
    if spec.brand == "Apple" and spec.category == "phone":
        network = APPLE_PHONE_VARIANTS.get(kind, kind)
        return f"{_brand(spec, rng, 0.35)}{spec.name} {size} {colour} {network} - Middle East Version"
    if spec.brand == "Apple" and spec.category == "tablet":
        return f"{spec.name} {size}, {kind}, {colour} with Facetime - Middle East Version"
    if spec.category == "phone":
        # The network is said once: "Galaxy S24 5G ... 256GB", "Redmi Note 13 4G ... 128GB", else "... 5G".
        network = "" if kind in ("4G", "5G", "LTE") else " 5G"
        title = f"{_brand(spec, rng, 0.5)}{spec.name} {kind} {colour} {size}{network}"
        return f"{title} - {rng.choice(VERSIONS)}"
    title = f"{_brand(spec, rng, 0.6)}{spec.name} {attributes(kind, size, colour, sep=' ')}"
    if spec.category in ("tv", "laptop", "camera") and rng.random() < 0.6:
        title += f" {spec.model_code}"
    if spec.category == "laptop" and rng.random() < 0.5:
        title += " English/Arabic Keyboard"
    return title


def _accessory(spec: Spec, rng: random.Random) -> str:
    if spec.brand == NO_NAME:  # a no-name listing names no maker
        cover = " Cover" if spec.extra == "Case" else ""
        return f"{spec.style} {spec.extra}{cover} For {spec.fits} {spec.colour}"
    return f"{spec.brand} {spec.style} {spec.extra} For {spec.fits} {spec.colour}"


def noon_title(spec: Spec, rng: random.Random) -> str:
    """How noon titles ``spec``."""
    if spec.kind == "accessory":
        return _accessory(spec, rng)
    title = _device(spec, rng)
    if spec.kind == "renewed":
        return f"Renewed - {title}"
    return f"{title} {spec.extra.replace('with ', 'With ', 1)}" if spec.kind == "bundle" else title
