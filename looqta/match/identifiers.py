"""Identifiers an offer carries: GTIN/EAN/UPC (check digit verified) and manufacturer model codes.

A GTIN is only trusted when its check digit holds; it is kept as GTIN-14 (zero-padded) so an
EAN-13 and the UPC-A of the same item compare equal. Model codes (``SM-S928B``, ``MTP03AH/A``,
``16ARX8``, ``WH-1000XM5``) are read from a given field and from the title; a token counts as a
code when it mixes letters and digits, is long enough, and is not a unit or a year.
"""

from __future__ import annotations

import re

_GTIN_LENGTHS = (8, 12, 13, 14)
_DIGITS_RE = re.compile(r"\d{8,14}")
_CODE_RE = re.compile(r"(?<![\w/-])[A-Za-z0-9]+(?:[-/][A-Za-z0-9]+)*(?![\w/-])")
#: A piece of a candidate code that is a quantity, not a code: 128GB, 45mm, 20W, 5G, 4K, 100x.
_UNIT_RE = re.compile(
    r"^\d+(?:\.\d+)?(?:gb|tb|mb|mm|cm|m|in|inch|hz|khz|w|mah|mp|k|p|g|x|v|fps|nits|pcs|pack|th|st|nd|rd)$",
    re.IGNORECASE,
)
_YEAR_RE = re.compile(r"^(?:19|20)\d\d$")
_MIN_CODE_CHARS = 5
_MIN_CODE_DIGITS = 2


def gtin_check_digit_ok(digits: str) -> bool:
    """The GS1 mod-10 check: weights 3,1,3,... from the right, excluding the check digit."""
    if not digits.isdigit() or len(digits) not in _GTIN_LENGTHS:
        return False
    body, check = digits[:-1], int(digits[-1])
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def normalise_gtin(value: str | None) -> str | None:
    """A valid GTIN-8/12/13/14 as GTIN-14, or ``None`` (bad check digit, wrong length, all zeros)."""
    if not value:
        return None
    digits = re.sub(r"[\s-]", "", value)
    if not gtin_check_digit_ok(digits) or not digits.strip("0"):
        return None
    return digits.zfill(14)


def gtins(given: str | None, title: str) -> frozenset[str]:
    """The given GTIN and any check-digit-valid 12-14 digit run in the title."""
    found = {normalise_gtin(given)} if given else set()
    for run in _DIGITS_RE.findall(title):
        if len(run) >= 12:
            found.add(normalise_gtin(run))
    return frozenset(g for g in found if g)


def normalise_code(code: str) -> str:
    return re.sub(r"[-/\s]", "", code).lower()


def is_code(token: str) -> bool:
    """A manufacturer code: a piece mixing letters and digits, >= 2 digits and >= 5 characters in all,
    no piece a unit or a year."""
    pieces = re.split(r"[-/]", token)
    if any(_UNIT_RE.match(piece) or _YEAR_RE.match(piece) for piece in pieces):
        return False
    if not any(re.search(r"\d", piece) and re.search(r"[a-z]", piece, re.IGNORECASE) for piece in pieces):
        return False  # "16-inch", "2024-25": no piece mixes letters and digits
    flat = normalise_code(token)
    digits = sum(ch.isdigit() for ch in flat)
    return len(flat) >= _MIN_CODE_CHARS and digits >= _MIN_CODE_DIGITS


def model_codes(given: str | None, title: str) -> frozenset[str]:
    """Normalised codes (lower case, no ``-``/``/``) from the given model field and the title."""
    found = {normalise_code(given)} if given and normalise_code(given) else set()
    found.update(normalise_code(token) for token in _CODE_RE.findall(title) if is_code(token))
    return frozenset(found)


def codes_compatible(left: str, right: str) -> bool:
    """One code names the other: equal, or one contains the other (``sms928b`` in ``sms928bzkdmea``)."""
    return left in right or right in left


def codes_conflict(left: frozenset[str], right: frozenset[str]) -> bool:
    """Both sides give codes and none of them agree (``sms928b`` vs ``sms921b``, ``zve10`` vs
    ``a6400``), or two codes of the same kind (length and first two characters) disagree even
    though another pair agrees (a part number beside a shared series code)."""
    if not left or not right:
        return False
    if not any(codes_compatible(a, b) for a in left for b in right):
        return True
    return any(
        len(a) == len(b) and a[:2] == b[:2] and not codes_compatible(a, b) for a in left for b in right
    )


def codes_agree(left: frozenset[str], right: frozenset[str]) -> str | None:
    """The longest code both sides share (equal or contained), or ``None``."""
    shared = [max(a, b, key=len) for a in left for b in right if codes_compatible(a, b)]
    return max(shared, key=lambda c: (len(c), c)) if shared else None
