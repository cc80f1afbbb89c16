"""Block pages and a JavaScript challenge, as the real sites answer crawlers (docs/sites.md, "Blocks").

``BLOCK_KINDS`` are served at a configured share of requests (``FaultConfig.blocks``), each with
the status the real site uses unless ``block_status`` overrides it. A stand-in brings its own pages
(amazon's captcha form, its "continue shopping" interstitial, its 503 page); any other kind is the
edge's "Access Denied" 403 (noon's CDN). The challenge is what bot protections serve: a page whose
script computes a token, sets it as a cookie and reloads. A client that runs no JavaScript never
gets past it; a browser passes on its own, and keeps passing while its cookie is valid.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict

from looqta.sandbox import sites
from looqta.sandbox.markup import document

BLOCK_KINDS: tuple[str, ...] = ("captcha", "interstitial", "forbidden", "server_error")
CHALLENGE = "challenge"
DEFAULT_STATUS: dict[str, int] = {
    "captcha": 200,
    "interstitial": 200,
    "forbidden": 403,
    "server_error": 503,
    CHALLENGE: 200,
}
CHALLENGE_COOKIE = "bm_verify"
_USED_NONCES_KEPT = 100_000


def edge_forbidden(host: str, path: str) -> str:
    reference = f"#18.{secrets.token_hex(4)}.{int(time.time())}.{secrets.token_hex(4)}"
    body = (
        "<H1>Access Denied</H1>\n"
        f'You don\'t have permission to access "http&#58;&#47;&#47;{host}{path}" on this server.<P>\n'
        f"Reference&#32;{reference}\n"
        f"<P>https&#58;&#47;&#47;errors&#46;edgesuite&#46;net&#47;{reference[1:]}</P>"
    )
    return f"<HTML><HEAD>\n<TITLE>Access Denied</TITLE>\n</HEAD><BODY>\n{body}\n</BODY>\n</HTML>\n"


def block_page(site: str, kind: str, host: str, path: str) -> str:
    """The HTML ``site`` answers with when it blocks a request with ``kind``.

    A site's own pages come from its stand-in; any kind it has none for (and "forbidden"
    always) is its edge's "Access Denied".
    """
    page = None if kind == "forbidden" else sites.get(site).block_pages.get(kind)
    return page() if page is not None else edge_forbidden(host, path)


_CHALLENGE_SCRIPT = """
<script>
(function () {
  var nonce = "%(nonce)s";
  var token = nonce.split("").reverse().join("");
  document.cookie = "%(cookie)s=" + nonce + ":" + token + "; path=/; max-age=%(max_age)d";
  setTimeout(function () { window.location.reload(); }, 20);
})();
</script>
"""


def aws_waf_challenge(nonce: str, script: str) -> str:
    """The challenge page as AWS WAF serves it (amazon)."""
    key = secrets.token_hex(16)
    head = f'<script>window.gokuProps = {{"key": "{key}", "context": "{nonce}"}};</script>'
    body = f'<div id="challenge-container"></div><noscript>JavaScript is disabled</noscript>{script}'
    return document("", body, head=head)


def akamai_challenge(nonce: str, script: str) -> str:
    """The challenge page as Akamai Bot Manager serves it (noon)."""
    body = (
        '<div id="sec-if-cpt-container" class="sec-if-cpt"><div id="sec-text-container">'
        "<h1>Checking your browser</h1><p>Please wait a moment.</p></div>"
        '<div id="sec-cpt-footer">Powered and protected by '
        '<a href="/akamai-privacy">Akamai</a></div></div>'
        f"<noscript>Please enable JavaScript to continue.</noscript>{script}"
    )
    return document("Checking your browser", body)


class Challenge:
    """Issues challenge nonces and checks the cookie a browser sets from one.

    A cookie is valid for ``ttl_seconds`` after its nonce was issued; with ``ttl_seconds`` 0 it
    passes exactly one request (every page is challenged once).
    """

    def __init__(self) -> None:
        self._used: OrderedDict[str, None] = OrderedDict()

    def page(self, site: str, ttl_seconds: float) -> str:
        """The challenge as ``site``'s bot protection serves it (its stand-in's ``challenge``)."""
        nonce = f"{int(time.time())}.{secrets.token_hex(8)}"
        script = _CHALLENGE_SCRIPT % {
            "nonce": nonce,
            "cookie": CHALLENGE_COOKIE,
            "max_age": max(1, int(ttl_seconds) or 60),
        }
        return sites.get(site).challenge(nonce, script)

    def passes(self, cookie: str | None, ttl_seconds: float, now: float) -> bool:
        if not cookie or ":" not in cookie:
            return False
        nonce, token = cookie.split(":", 1)
        issued, _, _ = nonce.partition(".")
        if token != nonce[::-1] or not issued.isdigit():
            return False
        if ttl_seconds <= 0:
            if nonce in self._used:
                return False
            self._used[nonce] = None
            while len(self._used) > _USED_NONCES_KEPT:
                self._used.popitem(last=False)
            return True
        return now - int(issued) <= ttl_seconds
