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


@dataclass(frozen=True)
class BlockSignature:
    """A block page: every text of ``all_of`` appears in the body (and the status is one of
    ``statuses``, when given)."""

    kind: str
    all_of: tuple[str, ...]
    statuses: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if self.kind not in BLOCK_KINDS:
            raise ValueError(f"block kind must be one of {BLOCK_KINDS}, got {self.kind!r}")
        if not self.all_of and not self.statuses:
            raise ValueError("a block signature needs texts or statuses")

    def matches(self, status: int, body: str) -> bool:
        if self.statuses and status not in self.statuses:
            return False
        return all(text in body for text in self.all_of)


#: Shapes every site's protection shares (Akamai and AWS WAF pages, edge denials).
COMMON_SIGNATURES: tuple[BlockSignature, ...] = (
    BlockSignature("challenge", ("sec-if-cpt-container",)),
    BlockSignature("challenge", ("Powered and protected by",)),
    BlockSignature("challenge", ("gokuProps",)),
    BlockSignature("challenge", ("awswaf",)),
    BlockSignature("forbidden", ("Access Denied", "Reference")),
    BlockSignature("forbidden", (), frozenset({401, 403})),
    BlockSignature("server_error", (), frozenset({500, 502, 503, 504})),
)


def classify(status: int, body: str, signatures: tuple[BlockSignature, ...]) -> str | None:
    """The block kind of an answer (site signatures first, then the common ones), or ``None``."""
    head = body[:SCAN_CHARS]
    for signature in (*signatures, *COMMON_SIGNATURES):
        if signature.matches(status, head):
            return signature.kind
    return None
