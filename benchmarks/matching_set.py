"""The labelled matching set: the sandbox's product families sold on two sites, titled as each site titles.

Every offer carries the identity of the product it is (family, model, capacity, colour, condition,
bundle, or the accessory it is), so a predicted pair is right when both offers are one identity and
the pairs a matcher can find are, per identity, min(left copies, right copies). Nothing here reads
the matcher: titles follow what the real sites print (docs/matching.md, "Evidence"):

* amazon.ae (left): brand first; "(256 GB)" in brackets or "256GB Storage" after a comma; the colour
  last; "(UAE Version)" or ", UAE Version"; marketing words ("AI Smartphone").
* noon.com (right): colour before capacity; "128GB" or "128 GB"; "- Middle East Version"; the brand
  left out where the product line names it ("Galaxy S25 Ultra ...", "iPhone 14 Pro Max ...").
* Either side: "Grey" or "Gray"; a manufacturer code on one side only (sometimes both).

Hard negatives (``NEGATIVE_KINDS``) sit next to a product: another storage or colour, a sibling
model (Pro / Max / Plus / another number), an accessory for it, the refurbished one, a bundle. In
"one site only" scenarios the product is on one site and only its negative on the other.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass, field

from looqta.sandbox.families import FAMILIES, Family

SIDES = ("amazon", "noon")
NEGATIVE_KINDS = ("storage", "colour", "sibling", "accessory", "refurbished", "bundle")
SCENARIOS = (("pair", 0.45), ("pair_with_negative", 0.3), ("one_site_only", 0.25))
#: Capacity slots that name a product attribute (storage, size, model year); other slots
#: ("30 Hours Battery", "Bluetooth 5.2") are fixed per model, as a spec line is.
_ATTRIBUTE_RE = re.compile(r"\d+\s*(?:GB|TB)|\d+mm|\d+-inch|20\d\d Model", re.IGNORECASE)
#: Lines noon titles without their brand (seen: "Galaxy S25 Ultra ...", "iPhone 14 Pro Max ...").
_BRANDLESS_LINES = frozenset({"iPhone", "Galaxy", "iPad", "MacBook", "AirPods", "PlayStation", "Xbox"})
_MARKETING = {
    "phone": ("AI Smartphone", "Android Smartphone", "Dual SIM Smartphone", "Mobile Phone"),
    "laptop": ("Laptop", "Thin and Light Laptop"),
    "headphones": ("Headphones", "Wireless Headphones"),
    "tv": ("Smart TV", "LED TV"),
    "watch": ("Smartwatch", "Smart Watch"),
    "tablet": ("Tablet", "Android Tablet"),
    "camera": ("Camera", "Digital Camera"),
    "speaker": ("Speaker", "Wireless Speaker"),
    "console": ("Gaming Console", "Console"),
    "accessory": ("", "Original"),
}
_ACCESSORIES = {
    "phone": ("Case", "Screen Protector", "Charger"),
    "tablet": ("Case", "Screen Protector"),
    "laptop": ("Sleeve", "Charger"),
    "watch": ("Strap", "Screen Protector"),
    "headphones": ("Replacement Ear Pads", "Carrying Case"),
    "camera": ("Screen Protector", "Carrying Case"),
    "tv": ("Wall Mount",),
    "speaker": ("Carrying Case",),
    "console": ("Charging Dock", "Cover"),
    "accessory": ("Cable", "Carrying Case"),
}
_MAKERS = ("Spigen", "ESR", "Belkin", "UGREEN", "OtterBox")
_BUNDLE_EXTRAS = {
    "console": ("Extra Controller", "2 Games"),
    "camera": ("64GB Memory Card and Bag", "Tripod"),
}
_OTHER_EXTRAS = ("Charger and Case", "Travel Bag", "Screen Protector and Case")


@dataclass(frozen=True)
class Identity:
    """What an offer is; two offers of one identity are one product."""

    family: int
    model: str
    capacity: str
    colour: str
    condition: str = "new"  # "new" | "refurbished"
    bundle: bool = False
    accessory: str = ""  # "<maker> <type>" for an accessory of the product, else ""


@dataclass
class LabelledOffer:
    id: str
    side: str
    title: str
    brand: str | None
    identity: Identity
    negative: str = ""  # the hard-negative kind this offer was made as, if any
    transforms: tuple[str, ...] = ()


@dataclass
class LabelledSet:
    offers: list[LabelledOffer] = field(default_factory=list)

    def side(self, side: str) -> list[LabelledOffer]:
        return [offer for offer in self.offers if offer.side == side]

    def possible_pairs(self) -> int:
        """Pairs a 1:1 matcher can find: per identity, the fewer of its copies on either side."""
        counts: dict[Identity, list[int]] = {}
        for offer in self.offers:
            counts.setdefault(offer.identity, [0, 0])[SIDES.index(offer.side)] += 1
        return sum(min(pair) for pair in counts.values())


def dimensions(family: Family) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The family's capacities that are product attributes (else one, fixed), and its colours."""
    attributes = tuple(c for c in family.capacities if _ATTRIBUTE_RE.search(c))
    return attributes or family.capacities[:1], family.colours


def _fixed(options: tuple[str, ...], *key: object) -> str:
    digest = hashlib.blake2b(":".join(map(str, key)).encode(), digest_size=4).digest()
    return options[int.from_bytes(digest, "big") % len(options)]


def model_code(identity: Identity) -> str:
    """A manufacturer-style code, one per product (brand-shaped, as SM-S928B or MTP03AE/A read)."""
    family = FAMILIES[identity.family]
    digest = hashlib.blake2b(repr(identity).encode(), digest_size=6).hexdigest().upper()
    digits = "".join(str(int(c, 16) % 10) for c in digest)
    if family.brand == "Apple":
        return f"M{digest[:2]}{digits[:2]}AE/A"
    if family.brand == "Samsung":
        return f"SM-{digest[0]}{digits[:3]}{digest[1]}"
    return f"{family.brand[:2].upper()}{digits[:4]}{digest[:2]}"


def _capacity(text: str, rng: random.Random) -> str:
    if rng.random() < 0.5:
        text = re.sub(r"(\d)(GB|TB)", r"\1 \2", text)
    if rng.random() < 0.3:
        text = re.sub(r"(\d+)-inch", r'\1"', text) if rng.random() < 0.5 else text.replace("-inch", " Inch")
    return text


#: How one model name is spelled differently on the real sites: "Z Flip5" / "Z Flip 5", "Pro Plus" /
#: "Pro+", "WH 1000XM5" / "WH-1000XM5", "5th Gen" / "5th Generation", "Mark II" / "II".
_SPELLINGS = (
    (re.compile(r"\b([A-Za-z]{3,})(\d{1,2})\b"), r"\1 \2"),
    (re.compile(r" Plus\b"), "+"),
    (re.compile(r"^([A-Z]{1,3}) (\d+[A-Z]+\d*)\b"), r"\1-\2"),
    (re.compile(r"\bGen\b"), "Generation"),
    (re.compile(r"\bMark II\b"), "II"),
)


def _model_name(name: str, rng: random.Random) -> str:
    """The model's name, respelled the way another site writes it (about a third of the time)."""
    if rng.random() >= 0.35:
        return name
    for pattern, replacement in rng.sample(_SPELLINGS, len(_SPELLINGS)):  # the first that applies
        changed = pattern.sub(replacement, name, count=1)
        if changed != name:
            return changed
    return name


#: A seller's plain colour for a maker's colour name ("Obsidian" sold as "Black"): added after the
#: rules were written, to measure what they were not built for.
_PLAIN_COLOURS = {
    "Obsidian": "Black",
    "Porcelain": "White",
    "Bay": "Blue",
    "Midnight": "Black",
    "Starlight": "White",
    "Graphite": "Grey",
    "Sandstone": "Beige",
    "Charcoal": "Black",
    "Whitestone": "White",
    "Natural Titanium": "Silver",
    "Jade Black": "Black",
    "Ponder Blue": "Blue",
}


def _colour(text: str, rng: random.Random) -> str:
    return text.replace("Grey", "Gray") if rng.random() < 0.5 else text


def _tidy(title: str) -> str:
    """No empty brackets, doubled commas or spaces where a part was left out."""
    title = re.sub(r"\(\s*\)", "", title)
    title = re.sub(r"\s*,(\s*,)+", ",", title)
    return re.sub(r"\s{2,}", " ", title).replace(" ,", ",").strip()


def render(identity: Identity, side: str, rng: random.Random) -> tuple[str, str | None, tuple[str, ...]]:
    """A title for ``identity`` as ``side`` prints it, the brand field (or None) and what was varied."""
    family = FAMILIES[identity.family]
    done: list[str] = []
    variant = _fixed(family.variants, identity.family, identity.model, "variant")
    name = _model_name(f"{family.line} {identity.model}", rng)
    capacity, colour = _capacity(identity.capacity, rng), _colour(identity.colour, rng)
    if side == "noon" and colour in _PLAIN_COLOURS and rng.random() < 0.3:
        colour = _PLAIN_COLOURS[colour]
        done.append("colour_plain")
    if re.search(r"\d\s*(?:GB|TB)", capacity) and rng.random() < 0.08:
        capacity = ""
        done.append("storage_missing")
    marketing = rng.choice(_MARKETING[family.category])
    if name != f"{family.line} {identity.model}":
        done.append("model_spelling")
    if capacity and capacity != identity.capacity:
        done.append("unit_spacing")
    if colour != identity.colour and "colour_plain" not in done:
        done.append("colour_spelling")
    brand_shown = family.brand
    if side == "amazon":
        if rng.random() < 0.2:
            brand_shown = family.brand.upper()
        if rng.random() < 0.15:
            brand_shown = f"New {brand_shown}"
            done.append("marketing")
        style = rng.randrange(3)
        if style == 0:
            title = f"{brand_shown} {name} {variant} ({capacity}) - {colour}"
        elif style == 1:
            title = (
                f"{brand_shown} {name} {variant}, {capacity}, {colour} (UAE Version) - 1 Year Local Warranty"
            )
        else:
            title = f"{brand_shown} {name} {marketing}, {variant}, {capacity}, {colour}, UAE Version"
            done.append("marketing")
        done.append("region")
    else:
        drop = family.line in _BRANDLESS_LINES and rng.random() < 0.6
        lead = name if drop else f"{family.brand} {name}"
        if drop:
            done.append("brand_missing")
        style = rng.randrange(3)
        if style == 0:
            title = f"{lead} {variant} {colour} {capacity} - Middle East Version"
            done += ["word_order", "region"]
        elif style == 1:
            title = f"{lead} {capacity} {colour} {variant}"
        else:
            title = f"{lead} {capacity} {variant} {marketing} {colour}".replace("  ", " ")
            done += ["marketing"]
    if rng.random() < 0.25:
        title += f" {model_code(identity)}" if side == "amazon" else f" ({model_code(identity)})"
        done.append("model_code_one_side")
    return _tidy(title), (family.brand if side == "amazon" and rng.random() < 0.7 else None), tuple(done)


def render_offer(
    identity: Identity, side: str, rng: random.Random
) -> tuple[str, str | None, tuple[str, ...]]:
    """``render`` plus what makes a refurbished, bundled or accessory offer read as one."""
    family = FAMILIES[identity.family]
    if identity.accessory:
        maker, kind = identity.accessory.split(" ", 1)
        target = f"{family.brand} {family.line} {identity.model}"
        if side == "amazon":
            return f"{maker} {kind} for {target}, {rng.choice(('Black', 'Clear'))}", maker, ("accessory",)
        return f"{maker} {kind} Compatible With {target}", None, ("accessory",)
    base = Identity(identity.family, identity.model, identity.capacity, identity.colour)
    title, brand, done = render(base, side, rng)
    if identity.condition == "refurbished":
        title += " (Renewed)" if side == "amazon" else " - Refurbished"
    if identity.bundle:
        extra = _fixed(_BUNDLE_EXTRAS.get(family.category, _OTHER_EXTRAS), repr(identity))
        title += f" Bundle with {extra}" if side == "amazon" else f" + {extra} Bundle"
    return title, brand, done


def negative(identity: Identity, kind: str, rng: random.Random) -> Identity | None:
    """A hard negative of ``kind`` next to ``identity``, or None when the family has no such thing."""
    family = FAMILIES[identity.family]
    capacities, colours = dimensions(family)
    if kind == "storage":
        others = [c for c in capacities if c != identity.capacity]
        return (
            Identity(identity.family, identity.model, rng.choice(others), identity.colour) if others else None
        )
    if kind == "colour":
        others = [c for c in colours if c != identity.colour]
        return (
            Identity(identity.family, identity.model, identity.capacity, rng.choice(others))
            if others
            else None
        )
    if kind == "sibling":
        # Prefer a sibling that extends or shortens the name: "15" <-> "15 Pro" <-> "15 Pro Max".
        first = identity.model.split()[0]
        others = [m for m in family.models if m != identity.model]
        close = [m for m in others if m.split()[0] == first]
        return Identity(identity.family, rng.choice(close or others), identity.capacity, identity.colour)
    if kind == "accessory":
        accessory = f"{rng.choice(_MAKERS)} {rng.choice(_ACCESSORIES[family.category])}"
        return Identity(identity.family, identity.model, "", "", accessory=accessory)
    if kind == "refurbished":
        return Identity(
            identity.family, identity.model, identity.capacity, identity.colour, condition="refurbished"
        )
    return Identity(identity.family, identity.model, identity.capacity, identity.colour, bundle=True)


def random_identity(rng: random.Random) -> Identity:
    index = rng.randrange(len(FAMILIES))
    family = FAMILIES[index]
    capacities, colours = dimensions(family)
    return Identity(index, rng.choice(family.models), rng.choice(capacities), rng.choice(colours))


def build(offers: int, seed: int = 1) -> LabelledSet:
    """About ``offers`` labelled offers over both sides, the same for the same arguments."""
    rng = random.Random(f"matching-set:{seed}")
    made = LabelledSet()
    serial = 0

    def add(identity: Identity, side: str, kind: str = "") -> None:
        nonlocal serial
        serial += 1
        title, brand, done = render_offer(identity, side, rng)
        source_id = f"B0{serial:08d}" if side == "amazon" else f"N{serial:08d}A"
        made.offers.append(LabelledOffer(source_id, side, title, brand, identity, kind, done))

    names, weights = zip(*SCENARIOS, strict=True)
    turn = 0
    while len(made.offers) < offers:
        scenario = rng.choices(names, weights)[0]
        product = random_identity(rng)
        if scenario == "pair":
            add(product, "amazon")
            add(product, "noon")
            continue
        kind = NEGATIVE_KINDS[turn % len(NEGATIVE_KINDS)]
        turn += 1
        other = negative(product, kind, rng)
        if other is None or other == product:
            continue
        side = rng.choice(SIDES)
        add(product, side)
        if scenario == "pair_with_negative":
            add(product, SIDES[1 - SIDES.index(side)])
        add(other, SIDES[1 - SIDES.index(side)], kind)
    return made
