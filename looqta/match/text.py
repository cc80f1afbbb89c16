"""Title text as the matcher reads it: one spelling for units, colours, ordinals and joined codes.

"128 GB", "128GB" and "128-GB" become ``128gb``; '6.1"' and "6.1-inch" become ``6.1in``; "2nd
Generation" and "Gen 2" become ``gen2``; "Space Grey" becomes "space gray"; "S24+" becomes "s24
plus"; "WH-1000XM5" becomes ``wh1000xm5``. The first segment of a title (before a comma, a
bracket or " - ") is its *head*: where the product's name is, before specs and marketing.
"""

from __future__ import annotations

import re
import unicodedata

from looqta.match.lexicon import SPELLINGS
from looqta.match.lexicon import words as word_set

_SPELLING_RE = re.compile(r"\b(" + "|".join(map(re.escape, SPELLINGS)) + r")\b")
_ORDINAL_GEN_RE = re.compile(r"\b(\d+)(?:st|nd|rd|th)\s*-?\s*gen(?:eration)?\b")
_GEN_NUMBER_RE = re.compile(r"\bgen(?:eration)?\s*-?\s*(\d+)\b")
_MARK_RE = re.compile(r"\b(?:mark|mk)\s*(ii|iii|iv|v|2|3|4|5)\b|(?<=\w )(ii|iii|iv|vi)\b")
_ROMAN = {"ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6"}
#: A word of 3+ letters glued to a short number is two words: "Flip5" is "Flip 5", "Note20" "Note 20".
_GLUED_RE = re.compile(r"^(?!gen|mk|pack)([a-z]{3,})(\d{1,3})$")
_CAPACITY_RE = re.compile(r"\b(\d+(?:\.\d+)?)\s*-?\s*(gb|tb)\b")
_INCH_RE = re.compile(r"\b(\d+(?:\.\d+)?)\s*(?:-\s*)?(?:inches|inch|in\b|\"|”|'')")
_MM_RE = re.compile(r"(?<![\d-])\b(\d+(?:\.\d+)?)\s*-?\s*mm\b")
_PACK_RE = re.compile(
    r"\b(?:pack|set|box)\s+of\s+(\d+)\b|\b(\d+)\s*-?\s*(?:pack|pcs|pieces|count|piece)\b|\bx\s?(\d)\b(?=\s*(?:pack|$))"
)
_PLUS_RE = re.compile(r"(?<=[a-z0-9])\+(?=\s|$|[,)])")
_HYPHEN_CODE_RE = re.compile(r"\b([a-z0-9]*\d[a-z0-9]*|[a-z]{1,3})-(?=[a-z0-9]*\d)")
_SEPARATOR_RE = re.compile(r",|\(|\)|\[|\]|\|| - | – | — |;")
_TOKEN_RE = re.compile(r"[a-z0-9]+(?:\.\d+[a-z]*)?")


def fold(title: str) -> str:
    """Lower case, accents off, one spelling for units, colours and codes (see the module doc)."""
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    text = text.replace("&", " and ")
    text = _SPELLING_RE.sub(lambda m: SPELLINGS[m.group(1)], text)
    text = _MARK_RE.sub(lambda m: f"mk{_ROMAN.get(n := m.group(1) or m.group(2), n)}", text)
    text = _ORDINAL_GEN_RE.sub(r"gen\1", text)
    text = _GEN_NUMBER_RE.sub(r"gen\1", text)
    text = _CAPACITY_RE.sub(r"\1\2", text)
    text = _INCH_RE.sub(r"\1in ", text)
    text = _MM_RE.sub(r"\1mm", text)
    text = _PACK_RE.sub(lambda m: f" pack{next(g for g in m.groups() if g)} ", text)
    text = _PLUS_RE.sub(" plus", text).replace(" + ", " with ")
    return _HYPHEN_CODE_RE.sub(r"\1", text)


def tokens(text: str) -> list[str]:
    """Words of folded text; a 1-3 letter word before a bare number joins it ("ce 3" -> ``ce3``)."""
    words = [part for word in _TOKEN_RE.findall(text) for part in _split_glued(word)]
    out: list[str] = []
    for word in words:
        last = out[-1] if out else ""
        if word.isdigit() and len(word) <= 3 and last.isalpha() and len(last) <= 3 and last not in _NO_JOIN:
            out[-1] += word
            continue
        out.append(word)
    return out


def _split_glued(word: str) -> tuple[str, ...]:
    glued = _GLUED_RE.match(word)
    return glued.groups() if glued else (word,)


#: Short words that stay apart from the number after them ("pro 2" is pro + 2, "se 2" too).
_NO_JOIN = word_set("pro max air se fe xl and with for of the a in to by gps usb")


def head(text: str) -> str:
    """The first segment of folded text: before a comma, a bracket, a bar or " - "."""
    return _SEPARATOR_RE.split(text, maxsplit=1)[0]


def after_head(text: str) -> str:
    """Folded text after its first segment (empty when there is one segment only)."""
    parts = _SEPARATOR_RE.split(text, maxsplit=1)
    return parts[1] if len(parts) > 1 else ""
