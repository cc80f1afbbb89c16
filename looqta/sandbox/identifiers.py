"""Manufacturer model numbers and GTINs of the sandbox world's products.

Each brand's model numbers follow the shape of its real part numbers (``MTUV3AH/A``, ``SM-S928B``,
``21HM0001AD``); GTINs are EAN-13 with a valid check digit. Both are a pure function of a key the
world gives each product, so they are stable for a seed (and cheap: computed when asked for).
"""

from __future__ import annotations

import hashlib
import string

#: Model number shapes: ``#`` a digit, ``@`` an upper-case letter, ``*`` either; the rest is literal.
CODE_PATTERNS: dict[str, str] = {
    "Apple": "M@@*#AH/A",
    "Samsung": "SM-@###@",
    "Google": "GA0####-GB",
    "Xiaomi": "23###RA@#G",
    "OnePlus": "CPH####",
    "Dell": "XPS####-####@@@",
    "Lenovo": "21@@00##AD",
    "HP": "##-@@####NE",
    "ASUS": "UX####@A-@@###W",
    "Sony": "@@-####/@",
    "Bose": "######-####",
    "JBL": "JBL@@@@###@@@",
    "LG": "OLED##@#PSA",
    "TCL": "##@###",
    "Garmin": "010-#####-##",
    "Huawei": "@@@-B##",
    "Canon": "####C###",
    "Fujifilm": "1600####",
    "Amazon": "@##@@#",
    "Microsoft": "RRT-#####",
    "Nintendo": "HEG-S-@@@@@",
    "Anker": "A####",
    "Logitech": "910-######",
    "Spigen": "ACS0####",
    "OtterBox": "77-#####",
}
DEFAULT_CODE_PATTERN = "@@-####"
#: GS1 company prefixes the sandbox gives its brands' GTINs (the rest get a generic 6xx prefix).
GTIN_PREFIXES: dict[str, str] = {"Apple": "0194253", "Samsung": "880609", "Sony": "454854", "LG": "880605"}
_DRAW = {"#": string.digits, "@": string.ascii_uppercase, "*": string.ascii_uppercase + string.digits}


def _bytes(key: str, what: str) -> bytes:
    return hashlib.blake2b(f"{key}:{what}".encode(), digest_size=32).digest()


def model_code(brand: str, key: str) -> str:
    """A model number in ``brand``'s shape, e.g. ``MTUV3AH/A`` for Apple; fixed by ``key``."""
    pattern = CODE_PATTERNS.get(brand, DEFAULT_CODE_PATTERN)
    draws = _bytes(key, "model")
    return "".join(_DRAW[c][draws[i] % len(_DRAW[c])] if c in _DRAW else c for i, c in enumerate(pattern))


def ean13_check_digit(body: str) -> str:
    """The check digit of a 12-digit EAN-13 body (weights 1, 3, 1, 3, ... from the left)."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return str((10 - total % 10) % 10)


def gtin13(brand: str, key: str) -> str:
    """An EAN-13 with a valid check digit and the brand's company prefix; fixed by ``key``."""
    digits = "".join(str(b % 10) for b in _bytes(key, "gtin"))
    prefix = GTIN_PREFIXES.get(brand, "6" + digits[:5])
    body = prefix + digits[12 : 24 - len(prefix)]
    return body + ean13_check_digit(body)
