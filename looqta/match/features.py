"""What the rules compare, read once per offer: brand, identifiers, attributes, name tokens, flags."""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

from looqta.match import fits, identifiers, lexicon, specs
from looqta.match.text import after_head, fold, head, tokens

_CAPACITY_TOKEN_RE = re.compile(r"^(\d+(?:\.\d+)?)(gb|tb)$")
_RAM_PAIR_RE = re.compile(r"\b(\d+)(?:gb)?\s*[+/]\s*(\d+(?:\.\d+)?)(gb|tb)\b")
_RAM_AFTER_RE = re.compile(r"\b(\d+)gb\s*(?:of\s+)?(?:ram|memory|unified memory|lpddr\w*|ddr\w*)\b")
_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)?)in$")
_MM_RE = re.compile(r"^(\d+)mm$")
_PACK_RE = re.compile(r"^pack(\d+)$")
_YEAR_RE = re.compile(r"^20[1-3]\d$")
_UNIT_RE = re.compile(r"^\d+(?:\.\d+)?(?:gb|tb|mb|mm|cm|in|hz|w|mah|mp|k|p|x|v|fps|nits)$")
_COUNTED = frozenset({"hours", "hour", "hrs", "days", "years", "year", "months", "watts", "pcs", "x"})
_CONNECTORS = (("lightning", "lightning"), ("usbc", "usb c"), ("usbc", "type c"))
_HEAD_STOP = frozenset({"5g", "4g", "lte", "3g", "wi", "dual", "with", "for", "compatible", "esim"})
_ALIASES: list[tuple[tuple[str, ...], str]] = sorted(
    ((tuple(alias.split()), brand) for brand, names in lexicon.BRANDS.items() for alias in names),
    key=lambda pair: -len(pair[0]),
)
_BRAND_NAMES = {alias: brand for brand, names in lexicon.BRANDS.items() for alias in names}
#: Words that never open a product line: makers' own names, filler, condition words.
#: Accessory nouns sites add or drop for one product (noon's "Case Cover"); other nouns ("Pouch",
#: "Sleeve") say what the accessory is and count among its own words.
_GENERIC_ACCESSORY = frozenset({"case", "cover"})
_METALS = frozenset({"aluminum", "steel", "titanium", "ceramic"})
_LINK_WORDS = frozenset({"wi", "fi", "bluetooth", "gps", "cellular"})
_NOT_LINE = frozenset(lexicon.BRANDS) | lexicon.NOISE | frozenset(lexicon.CONDITION_WORDS)


@dataclass(frozen=True)
class Features:
    key: str
    brand: str | None
    gtins: frozenset[str]
    codes: frozenset[str]
    storage_gb: float | None
    memory_gb: float | None
    colours: frozenset[str]
    size_in: int | None
    size_mm: int | None
    pack: int
    year: str | None
    connectors: frozenset[str]
    network: frozenset[str]
    cellular: bool
    head_name: frozenset[str]
    all_words: frozenset[str]
    tiers: frozenset[str]
    all_tiers: frozenset[str]
    model_tokens: frozenset[str]
    name: str
    refurbished: bool
    accessory: frozenset[str]
    bundle: frozenset[str]
    #: Naming words of "with ..." clauses: what comes with it or which version ("magsafe case").
    extras: frozenset[str]
    #: Numeric specs as (unit, value): ("mp", "40.2"), ("w", "65").
    specs: frozenset[tuple[str, str]]
    #: "cellular" (5G/LTE/Cellular), "local" (Wi-Fi or Bluetooth only) or None.
    link: str | None
    #: Kinds of thing named: "earbuds", "headphones", "speaker", "display".
    kinds: frozenset[str]
    #: An accessory's device's brand ("for Samsung Galaxy S24" -> samsung); None for a device.
    fit_brand: str | None
    #: An accessory's own words before "for ..." (maker, style), none of its type nouns.
    maker_words: frozenset[str]
    #: An accessory's words that are not the device it fits (all words for a device).
    own_words: frozenset[str]
    #: The first word of the product line (``galaxy``, ``tune``), a blocking key for brandless titles.
    line: str | None


def brand_of(given: str | None, words: list[str]) -> str | None:
    """The given brand (through the lexicon's aliases), else the first brand or line word in the title."""
    if given:
        folded = " ".join(tokens(fold(given)))
        if folded in lexicon.NO_BRAND:
            given = None
        else:
            return _BRAND_NAMES.get(folded, folded)
    for start in range(len(words)):
        for alias, brand in _ALIASES:
            if tuple(words[start : start + len(alias)]) == alias:
                return brand
    return None


def _gb(number: str, unit: str) -> float:
    return float(number) * (1024 if unit == "tb" else 1)


def capacities(text: str, words: list[str]) -> tuple[float | None, float | None]:
    """(storage, memory) in GB: memory is a size next to "RAM" or the first of "8GB+256GB"; storage
    is the largest other size."""
    memory = {float(m) for m in _RAM_AFTER_RE.findall(text)}
    memory.update(float(m[0]) for m in _RAM_PAIR_RE.findall(text))
    sizes = [_gb(*m.groups()) for w in words if (m := _CAPACITY_TOKEN_RE.match(w))]
    storage = [size for size in sizes if size not in memory]
    storage += [_gb(m[1], m[2]) for m in _RAM_PAIR_RE.findall(text)]
    return (max(storage) if storage else None, max(memory) if memory else None)


def colours(words: list[str]) -> frozenset[str]:
    found = {w for w in words if w in lexicon.COLOURS or w in lexicon.COLOUR_MODIFIERS}
    plain = found - lexicon.COLOUR_MODIFIERS
    return frozenset(plain or (found & lexicon.COLOURS))


def accessory_nouns(text: str, words: list[str]) -> frozenset[str]:
    """What accessory the title sells ("case", "charger"...), empty for a product itself; a title
    "for"/"compatible with" another product with no such noun is an accessory ("for")."""
    found: set[str] = set()
    for i, word in enumerate(words):
        pair = " ".join(words[i : i + 2])
        noun = pair if pair in lexicon.ACCESSORY_NOUNS else word
        if noun not in lexicon.ACCESSORY_NOUNS:
            continue
        before = words[max(0, i - 3) : i]
        if {"with", "and", "includes", "including", "plus"} & set(before):
            continue  # part of what is sold: "with Sport Band", "with MagSafe Charging Case"
        if word == "case" and before and before[-1] in lexicon.CASE_MATERIALS:
            continue  # a watch's "Aluminium Case", AirPods' "Charging Case"
        found.add(noun)
    pointed = any(phrase in text for phrase in lexicon.ACCESSORY_PHRASES) or any(
        word == "for" and any(w in _BRAND_NAMES for w in words[i + 1 : i + 3]) for i, word in enumerate(words)
    )
    return frozenset(found or ({"for"} if pointed else ()))


def bundled(text: str, words: list[str]) -> frozenset[str]:
    """What comes with the product: "bundle" (the word, "combo", "kit") and the lens, game or
    controller a title says it comes with; empty for the bare product ("Body Only")."""
    found = {"bundle"} if lexicon.BUNDLE_WORDS & set(words) else set()
    for extra in re.findall(r"\bwith\b[^,()]*?\b(lens|game|controller)", text):
        found.add(extra)
    return frozenset(found)


def with_words(text: str, found_colours: frozenset[str], codes: frozenset[str]) -> frozenset[str]:
    """The first two naming words of each "with ..." clause ("with EA Sports FC 25", "with Sleeve and
    Wireless Mouse", "with MagSafe Case"): what comes with the product or which version it is. Noise
    ("with FaceTime"), colours, links (Wi-Fi), units and codes are skipped, a clause naming a metal
    is the device's own case; marketing after "|" is not
    read (amazon's "| Smart TV with Voice Control")."""
    found: set[str] = set()
    for clause in re.findall(r"\bwith\b([^,()\[\]|;]*)", text.split("|", 1)[0]):
        named = _names(tokens(clause.split(" - ", 1)[0]), found_colours, [], codes)
        if not _METALS & set(named):  # "with Silver Aluminium Case": the watch's own body
            found.update([w for w in named if w not in _LINK_WORDS][:2])
    return frozenset(found)


def model_tokens(head_words: list[str], words: list[str], codes: frozenset[str]) -> frozenset[str]:
    """Tokens that name the model: letter-digit mixes (s24, a52s, gen2, zve10) that are no unit, in
    the head or anywhere but a part code (codes have their own rules), bare numbers in the head
    ("iPhone 15", "Watch 6") that count no hours or years, and a lone letter there (Series X)."""
    head = set(head_words)
    found = {
        w
        for w in words
        if any(c.isdigit() for c in w)
        and any(c.isalpha() for c in w)
        and not _UNIT_RE.match(w)
        and not _PACK_RE.match(w)
        and not re.match(r"^ip[x\d]\d$", w)
        and w not in lexicon.NOISE
        and (w in head or not any(w in code for code in codes))
    }
    found.update(
        w
        for w, after in pairwise([*head_words, ""])
        if w.isdigit() and len(w) <= 6 and not _YEAR_RE.match(w) and after not in _COUNTED
    )
    found.update(w for w in head_words if len(w) == 1 and w.isalpha() and w not in {"a", "i"})
    return frozenset(found)


def _names(
    candidates: list[str], found_colours: frozenset[str], head_words: list[str], codes: frozenset[str]
) -> list[str]:
    """The words of ``candidates`` that name a product: no noise, brand, descriptor, colour or unit, and
    no part of a model code outside the head (codes have their own rules)."""
    return [
        w
        for w in candidates
        if w not in lexicon.NOISE
        and w not in lexicon.BRANDS
        and w not in lexicon.DESCRIPTORS
        and w not in lexicon.CONDITION_WORDS
        and w not in found_colours
        and w not in lexicon.COLOUR_MODIFIERS
        and not _UNIT_RE.match(w)
        and not _PACK_RE.match(w)
        and (w in head_words or not (len(w) > 1 and any(w in code for code in codes)))
    ]


def features(
    key: str, title: str, brand: str | None = None, gtin: str | None = None, model: str | None = None
) -> Features:
    text = fold(title)
    words = tokens(text)
    first = tokens(head(text))
    if first and " ".join(first) in lexicon.CONDITION_WORDS:  # noon's "Renewed - Samsung ..."
        first = tokens(head(after_head(text)))
    accessory = accessory_nouns(text, words)
    # An accessory's head runs on past "for"/"with": "Case for iPhone 15 Pro" names the Pro.
    stops = _HEAD_STOP - {"for", "compatible", "with"} if accessory else _HEAD_STOP
    cut = next((i for i, w in enumerate(first) if w in stops or _UNIT_RE.match(w)), len(first))
    head_words = first[:cut]
    storage, memory = capacities(text, words)
    size_in = [float(m.group(1)) for w in words if (m := _SIZE_RE.match(w))]
    size_mm = [int(m.group(1)) for w in words if (m := _MM_RE.match(w))]
    packs = [int(m.group(1)) for w in words if (m := _PACK_RE.match(w))]
    years = sorted(w for w in words if _YEAR_RE.match(w))
    # An accessory's head splits at "for"/"compatible with": its own words (maker, style, type, and
    # everything after the head) and the device it fits.
    maker_part, fit_words = fits.split(head_words) if accessory else (words, [])
    own_words = maker_part + tokens(after_head(text)) if accessory else words
    # amazon's "<Maker> Case Compatible with <device>, <Style>, <colour>": the style follows the head.
    style_part = tokens(head(after_head(text))) if accessory else []
    found_brand = brand_of(brand, maker_part)
    fit_brand = brand_of(None, fit_words) if fit_words else None
    codes = identifiers.model_codes(model, title)
    found_colours = colours(words)
    # The name is read where sites put it: the first segment (specs and marketing follow a comma,
    # a bracket or "|"), for an accessory the device it fits; brands are compared by their veto.
    name_words = _names(fit_words or first, found_colours, head_words, codes)
    joined = " ".join(words)
    return Features(
        key=key,
        brand=found_brand,
        gtins=identifiers.gtins(gtin, title),
        codes=codes,
        storage_gb=storage,
        memory_gb=memory,
        colours=found_colours,
        size_in=int(max(size_in)) if size_in else None,
        size_mm=max(size_mm) if size_mm else None,
        pack=max(packs) if packs else 1,
        year=years[-1] if years else None,
        connectors=frozenset(c for c, needle in _CONNECTORS if needle in joined),
        network=frozenset({"5g"} & set(words)) | frozenset({"4g"} if {"4g", "lte"} & set(words) else ()),
        cellular="cellular" in words,
        head_name=frozenset(
            w
            for w in (fit_words or head_words)
            if w in name_words
            and w != found_brand
            and w not in lexicon.BRANDS
            and w not in lexicon.DESCRIPTORS
            and w not in lexicon.TIERS
        ),
        all_words=frozenset(words),
        tiers=frozenset(w for w in head_words if w in lexicon.TIERS),
        all_tiers=frozenset(w for w in words if w in lexicon.TIERS),
        model_tokens=model_tokens(head_words, words, codes),
        name=" ".join(dict.fromkeys(name_words)),
        refurbished=any(re.search(rf"\b{word}\b", text) for word in lexicon.CONDITION_WORDS),
        accessory=accessory,
        bundle=bundled(text, words),
        extras=with_words(text, found_colours, codes) if not accessory else frozenset(),
        specs=specs.numeric(words),
        link=specs.link(words),
        kinds=specs.kinds(words) if not accessory else frozenset(),
        fit_brand=fit_brand,
        maker_words=frozenset(
            w
            for w in [*_names(maker_part + style_part, found_colours, head_words, codes), found_brand or ""]
            if w and w not in _GENERIC_ACCESSORY and fit_words
        ),
        own_words=frozenset(own_words),
        line=fits.line_word(fit_words or head_words, _NOT_LINE),
    )
