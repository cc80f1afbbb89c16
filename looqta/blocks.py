"""Recognise block pages: a pure classification of one answer into a block kind, or none.

Sites answer crawlers they distrust with pages that are not what was asked for, often with
HTTP 200: a captcha form, a "continue shopping" interstitial, a JavaScript challenge, an edge
"Access Denied". Parsed as a result page, such a page reads as "no results". Each spider
declares its site's :class:`BlockSignature` s; :data:`COMMON_SIGNATURES` hold for every site.
The middleware that acts on a kind is ``looqta.middlewares.blocks``.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The kinds a block is counted under (``looqta/blocks/<kind>``).
BLOCK_KINDS: tuple[str, ...] = ("captcha", "interstitial", "challenge", "forbidden", "server_error")
#: Kinds a browser gets past by itself (it runs the page's script); the others it does not.
BROWSER_HELPS: frozenset[str] = frozenset({"challenge"})
#: Only this many leading characters are searched: block pages are small, result pages are not.
SCAN_CHARS = 60_000


#: Block pages are small (a few KB; evidence: under 50 KB), result pages are not: a marker a real
#: page could also carry (a protection's script, a phrase) only counts in a body under this.
SMALL_BODY_CHARS = 50_000


@dataclass(frozen=True)
class BlockSignature:
    """A block page: every text of ``all_of`` appears in the body (and the status is one of
    ``statuses``, when given; and the body is at most ``max_chars`` long, when given)."""

    kind: str
    all_of: tuple[str, ...]
    statuses: frozenset[int] = frozenset()
    max_chars: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in BLOCK_KINDS:
            raise ValueError(f"block kind must be one of {BLOCK_KINDS}, got {self.kind!r}")
        if not self.all_of and not self.statuses:
            raise ValueError("a block signature needs texts or statuses")

    def matches(self, status: int, body: str) -> bool:
        if self.statuses and status not in self.statuses:
            return False
        if self.max_chars is not None and len(body) > self.max_chars:
            return False
        return all(text in body for text in self.all_of)


#: Shapes every site's protection shares (Akamai and AWS WAF pages, edge denials).
COMMON_SIGNATURES: tuple[BlockSignature, ...] = (
    BlockSignature("challenge", ("sec-if-cpt-container",), max_chars=SMALL_BODY_CHARS),
    BlockSignature("challenge", ("Powered and protected by",), max_chars=SMALL_BODY_CHARS),
    BlockSignature("challenge", ("gokuProps",), max_chars=SMALL_BODY_CHARS),
    BlockSignature("challenge", ("awswaf",), max_chars=SMALL_BODY_CHARS),
    BlockSignature("forbidden", ("Access Denied", "Reference&#32;#"), max_chars=SMALL_BODY_CHARS),
    BlockSignature("forbidden", ("Access Denied", "Reference #"), max_chars=SMALL_BODY_CHARS),
    BlockSignature("forbidden", (), frozenset({401, 403})),
    BlockSignature("server_error", (), frozenset({500, 502, 503, 504})),
)


def classify(status: int, body: str, signatures: tuple[BlockSignature, ...]) -> str | None:
    """The block kind of an answer (site signatures first, then the common ones), or ``None``."""
    for signature in (*signatures, *COMMON_SIGNATURES):
        if signature.matches(status, body if signature.max_chars else body[:SCAN_CHARS]):
            return signature.kind
    return None
