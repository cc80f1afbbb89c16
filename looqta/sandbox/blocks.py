"""Block pages and a JavaScript challenge, as the real sites answer crawlers (docs/sites.md, "Blocks").

``BLOCK_KINDS`` are served at a configured share of requests (``FaultConfig.blocks``), each with
the status the real site uses unless ``block_status`` overrides it: amazon's captcha form and its
"continue shopping" interstitial (both 200), its 503 "Sorry! Something went wrong!" page, an
edge "Access Denied" 403 (noon's CDN). The challenge is what bot protections serve: a page whose
script computes a token, sets it as a cookie and reloads. A client that runs no JavaScript never
gets past it; a browser passes on its own, and keeps passing while its cookie is valid.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict

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


def _amazon_captcha() -> str:
    body = (
        '<div class="a-container a-padding-double-large"><div class="a-row a-spacing-double-large">'
        '<div class="a-box a-alert a-alert-info a-spacing-base"><div class="a-box-inner">'
        "<h4>Enter the characters you see below</h4>"
        '<p class="a-last">Sorry, we just need to make sure you\'re not a robot. For best results, '
        "please make sure your browser is accepting cookies.</p></div></div>"
        '<form method="get" action="/errors/validateCaptcha" name="">'
        f'<input type=hidden name="amzn" value="{secrets.token_urlsafe(12)}">'
        '<input type=hidden name="amzn-r" value="&#047;s">'
        '<div class="a-row a-text-center"><img src="/captcha/img/Captcha_sandbox.jpg"></div>'
        '<input autocomplete="off" spellcheck="false" placeholder="Type characters" id="captchacharacters" '
        'name="field-keywords" type="text"><button type="submit" class="a-button-text">Continue shopping'
        "</button></form></div></div>"
        "<!-- To discuss automated access to Amazon data please contact api-services-support@amazon.com. -->"
    )
    return document("Amazon.ae", body)


def _amazon_interstitial() -> str:
    body = (
        '<div class="a-container a-padding-double-large"><div class="a-section">'
        "<h4>Click the button below to continue shopping</h4>"
        '<form method="get" action="/errors/validateCaptcha" name="">'
        f'<input type=hidden name="amzn" value="{secrets.token_urlsafe(12)}">'
        '<input type=hidden name="amzn-r" value="&#047;s">'
        f'<input type=hidden name="field-keywords" value="{secrets.token_hex(3).upper()}">'
        '<span class="a-button a-button-primary"><button type="submit" class="a-button-text" '
        'alt="Continue shopping">Continue shopping</button></span></form></div></div>'
    )
    return document("Amazon.ae", body)


def _amazon_server_error() -> str:
    body = (
        '<a href="/ref=cs_503_logo"><img src="/images/G/39/error/logo.png" alt="Amazon.ae"></a>'
        '<p class="a-text-bold">Sorry! Something went wrong!</p>'
        '<a href="/ref=cs_503_link"><img src="/images/G/39/error/500-title.png" alt="Sorry! Something went '
        "wrong on our end. Please go back and try again or go to Amazon's home page.\"></a>"
        '<a href="/dogsofamazon/ref=cs_503_d"><img src="/images/G/39/error/1.jpg" alt="Dogs of Amazon"></a>'
    )
    return document("Sorry! Something went wrong!", body)


def _edge_forbidden(host: str, path: str) -> str:
    reference = f"#18.{secrets.token_hex(4)}.{int(time.time())}.{secrets.token_hex(4)}"
    body = (
        "<H1>Access Denied</H1>\n"
        f'You don\'t have permission to access "http&#58;&#47;&#47;{host}{path}" on this server.<P>\n'
        f"Reference&#32;{reference}\n"
        f"<P>https&#58;&#47;&#47;errors&#46;edgesuite&#46;net&#47;{reference[1:]}</P>"
    )
    return f"<HTML><HEAD>\n<TITLE>Access Denied</TITLE>\n</HEAD><BODY>\n{body}\n</BODY>\n</HTML>\n"


def _noon_server_error() -> str:
    body = (
        '<div id="root"><div class="errorPage"><h1>Something went wrong</h1>'
        "<p>We are working on fixing the problem. Please try again.</p></div></div>"
    )
    return document("noon", body)


def block_page(site: str, kind: str, host: str, path: str) -> str:
    """The HTML ``site`` answers with when it blocks a request with ``kind``."""
    if kind == "forbidden":
        return _edge_forbidden(host, path)
    if site == "amazon":
        pages = {
            "captcha": _amazon_captcha,
            "interstitial": _amazon_interstitial,
            "server_error": _amazon_server_error,
        }
        return pages[kind]()
    if kind == "server_error":
        return _noon_server_error()
    # noon has no captcha form of its own: its edge shows the same denial for those.
    return _edge_forbidden(host, path)


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


class Challenge:
    """Issues challenge nonces and checks the cookie a browser sets from one.

    A cookie is valid for ``ttl_seconds`` after its nonce was issued; with ``ttl_seconds`` 0 it
    passes exactly one request (every page is challenged once).
    """

    def __init__(self) -> None:
        self._used: OrderedDict[str, None] = OrderedDict()

    def page(self, site: str, ttl_seconds: float) -> str:
        """The challenge as ``site``'s protection serves it: AWS WAF (amazon), Akamai (noon)."""
        nonce = f"{int(time.time())}.{secrets.token_hex(8)}"
        script = _CHALLENGE_SCRIPT % {
            "nonce": nonce,
            "cookie": CHALLENGE_COOKIE,
            "max_age": max(1, int(ttl_seconds) or 60),
        }
        if site == "amazon":
            key = secrets.token_hex(16)
            head = f'<script>window.gokuProps = {{"key": "{key}", "context": "{nonce}"}};</script>'
            body = f'<div id="challenge-container"></div><noscript>JavaScript is disabled</noscript>{script}'
            return document("", body, head=head)
        body = (
            '<div id="sec-if-cpt-container" class="sec-if-cpt"><div id="sec-text-container">'
            "<h1>Checking your browser</h1><p>Please wait a moment.</p></div>"
            '<div id="sec-cpt-footer">Powered and protected by '
            '<a href="/akamai-privacy">Akamai</a></div></div>'
            f"<noscript>Please enable JavaScript to continue.</noscript>{script}"
        )
        return document("Checking your browser", body)

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
