"""amazon.ae's product titles (docs/sites.md, "How each site titles a product").

Brand first; Apple's own listings read ``Apple iPhone 15 Pro (256 GB) - Natural Titanium``
(storage spaced, in brackets, colour after a dash); other brands list attributes separated by
commas, sometimes with marketing words, ", UAE Version" or the model number at the end.
Accessories often name no brand ("Silicone Case for iPhone 15 Pro, ..."); renewed devices end
with "(Renewed)".
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from looqta.sandbox.extras import NO_NAME
from looqta.sandbox.titles import attributes, capacity, spaced, variant

if TYPE_CHECKING:
    import random

    from looqta.sandbox.world import Spec

_SIZE = re.compile(r"(\d+(?:\.\d+)?)-inch", re.IGNORECASE)
#: Words amazon listings add after the attributes, per category.
MARKETING = {
    "phone": ("Android Smartphone", "AI Smartphone", "Unlocked Smartphone"),
    "laptop": ("Thin and Light Laptop", "Windows 11 Home", "Backlit Keyboard"),
    "tv": ("HDR10+, Dolby Audio", "Smart TV with Voice Control"),
    "headphones": ("Long Battery Life", "Bluetooth, Built-in Mic"),
    "watch": ("Fitness Tracker", "Heart Rate Monitor"),
    "accessory": ("Shockproof", "Military Grade Drop Protection", "Slim Fit"),
}


def _apple(spec: Spec, rng: random.Random) -> str:
    size, kind = capacity(spec, rng), variant(spec, rng)
    shown = "" if kind == spec.family.variants_of(spec.model)[0] else f", {kind}"
    if spec.category == "phone":
        return f"Apple {spec.name} ({spaced(size)}{shown}) - {spec.colour}"
    if spec.category == "tablet":
        return f"Apple {spec.name} ({kind}, {spaced(size)}) - {spec.colour}"
    if spec.category == "watch":
        case = "Titanium" if spec.model.startswith("Ultra") else "Aluminium"
        return f"Apple Watch {spec.model} [{kind} {size}] Smartwatch with {spec.colour} {case} Case"
    if spec.category == "laptop":
        return f"Apple {spec.name} {kind} Laptop: {size}; {spec.colour}"
    return f"Apple {spec.name} {kind}{f' ({size})' if size else ''} - {spec.colour}"


def _tv(spec: Spec, rng: random.Random) -> str:
    match = _SIZE.search(spec.name)
    name = _SIZE.sub("", spec.name).strip()
    size = f"{match.group(1)} Inch " if match else ""
    title = f"{spec.brand} {size}{name} {variant(spec, rng)} ({capacity(spec, rng)})"
    return f"{title}, {spec.colour}"


def _device(spec: Spec, rng: random.Random) -> str:
    if spec.brand == "Apple":
        return _apple(spec, rng)
    if spec.category == "tv":
        title = _tv(spec, rng)
    elif spec.category == "phone":
        title = f"{spec.brand} {spec.name} {variant(spec, rng)}, {spaced(capacity(spec, rng))}, {spec.colour}"
    else:
        title = f"{spec.brand} {spec.name} {attributes(variant(spec, rng), capacity(spec, rng), spec.colour)}"
    marketing = MARKETING.get(spec.category)
    if marketing and rng.random() < 0.4:
        title += f" | {rng.choice(marketing)}"
    if spec.category == "phone" and rng.random() < 0.5:
        title += ", UAE Version"
    if spec.category in ("laptop", "tv", "camera") and rng.random() < 0.4:
        title += f", {spec.model_code}"
    return title


def _accessory(spec: Spec, rng: random.Random) -> str:
    device = spec.fits.split(" ", 1)[1]  # without its brand
    if spec.brand == NO_NAME:  # a no-name listing names no maker
        return f"{spec.style} {spec.extra} for {device}, {rng.choice(MARKETING['accessory'])}, {spec.colour}"
    if rng.random() < 0.7:
        return f"{spec.brand} {spec.style} {spec.extra} for {spec.fits} - {spec.colour}"
    return f"{spec.brand} {spec.extra} Compatible with {device}, {spec.style}, {spec.colour}"


def amazon_title(spec: Spec, rng: random.Random) -> str:
    """How amazon.ae titles ``spec``."""
    if spec.kind == "accessory":
        return _accessory(spec, rng)
    title = _device(spec, rng)
    if spec.kind == "renewed":
        return f"{title} (Renewed)"
    return f"{title} {spec.extra}" if spec.kind == "bundle" else title
