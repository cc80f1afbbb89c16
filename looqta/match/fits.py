"""An accessory's two names: its own (maker, style, type: "Spigen Ultra Hybrid Case") and the
device it fits ("for Samsung Galaxy S24"). The maker is compared with the maker, the device with
the device; an accessory is blocked by the device it fits, since shops often leave its maker out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from looqta.match import lexicon

if TYPE_CHECKING:
    from collections.abc import Sequence


def split(words: Sequence[str]) -> tuple[list[str], list[str]]:
    """(the words before the first "for"/"compatible with"/..., the words after it); no such phrase:
    (all words, [])."""
    for i in range(len(words)):
        for phrase in lexicon.FITS_PHRASES:
            if tuple(words[i : i + len(phrase)]) == phrase and i + len(phrase) < len(words):
                return list(words[:i]), list(words[i + len(phrase) :])
    return list(words), []


def line_word(words: Sequence[str], brand_names: frozenset[str]) -> str | None:
    """The first word of a device's name that is not its maker's name ("galaxy" in "Samsung Galaxy
    S24", "tune" in "Tune 770NC"): titles that leave the brand out still share it."""
    return next((w for w in words if w not in brand_names and w.isalpha() and len(w) > 1), None)
