"""Spec facts a title states that tell two products apart: numeric specs with units, the link
(cellular or Wi-Fi/Bluetooth only) and the kind of thing it is (earbuds or headphones).

Each is read from folded words (``text.tokens``) and compared only when both titles state it:
a title that leaves a spec out vetoes nothing.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from looqta.match import lexicon

if TYPE_CHECKING:
    from collections.abc import Sequence

#: Units whose value is a spec of the product itself: megapixels, watts, refresh rate, battery.
_SPEC_RE = re.compile(r"^(\d+(?:\.\d+)?)(mp|w|hz|mah)$")
_CELLULAR = frozenset({"5g", "4g", "lte", "3g", "cellular"})
#: A link word followed by one of these is a spec line ("Wi-Fi 6", "Bluetooth 5.3"), not the variant.
_VERSION_RE = re.compile(r"^\d+(?:\.\d+)?[a-z]?$")


def numeric(words: Sequence[str]) -> frozenset[tuple[str, str]]:
    """(unit, value) of each numeric spec: ``40.2mp`` -> ("mp", "40.2"), ``65w`` -> ("w", "65")."""
    return frozenset((m.group(2), m.group(1)) for w in words if (m := _SPEC_RE.match(w)))


def numeric_conflict(left: frozenset[tuple[str, str]], right: frozenset[tuple[str, str]]) -> bool:
    """A unit both sides state with no value in common (26.1MP vs 40.2MP, 20W vs 45W)."""
    units = {unit for unit, _ in left} & {unit for unit, _ in right}
    return any(not ({v for u, v in left if u == unit} & {v for u, v in right if u == unit}) for unit in units)


def link(words: Sequence[str]) -> str | None:
    """ "cellular" when the title names a mobile network (5G, LTE, Cellular), "local" when it names only
    Wi-Fi or Bluetooth as its variant (not a "Wi-Fi 6" / "Bluetooth 5.3" spec line), else ``None``."""
    if _CELLULAR & set(words):
        return "cellular"
    for i, word in enumerate(words):
        after = words[i + 1] if i + 1 < len(words) else ""
        if word == "wi" and after == "fi":
            after = words[i + 2] if i + 2 < len(words) else ""
        elif word != "bluetooth":
            continue
        if not _VERSION_RE.match(after):
            return "local"
    return None


def kinds(words: Sequence[str]) -> frozenset[str]:
    """The kinds of thing a title names (``lexicon.PRODUCT_KINDS``): "earbuds", "headphones", ...
    Two words for one kind map to it ("in ear" and "earbuds" are both earbuds)."""
    joined = f" {' '.join(words)} "
    return frozenset(
        kind for kind, names in lexicon.PRODUCT_KINDS.items() if any(f" {n} " in joined for n in names)
    )


def kinds_conflict(left: frozenset[str], right: frozenset[str]) -> bool:
    """Both name a kind and none is shared (earbuds vs over-ear headphones, speaker vs display)."""
    return bool(left) and bool(right) and not (left & right)
