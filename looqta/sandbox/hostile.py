"""Hostile pages: the ``hostile_urls`` fault puts attacker-chosen URLs where a crawler fetches from.

What a page whose content a third party controls (a seller's listing, a review) can carry: the
product image (``data-old-hires``, the result card's image), extra "Product guides and documents"
links, links on the site itself that redirect there (``/__hostile__/redirect/<i>/manual.pdf``, an
open redirect), images, and a script that requests each URL (a synchronous XHR, so a browser
sends it before the page counts as loaded). The tests point them at ``file:``, ``data:`` and
other loopback ports, and assert that nothing was fetched (docs/security.md).
"""

from __future__ import annotations

import json
import re
import zlib
from html import escape

from aiohttp import web

REDIRECT_PREFIX = "/__hostile__/redirect/"
MAX_URLS = 50
_LARGE_IMAGE = re.compile(r'data-old-hires="[^"]*"')
_CARD_IMAGE = re.compile(r'(<img class="s-image" src=")[^"]*"')


def check_urls(urls: object) -> None:
    """``ValueError`` unless ``urls`` is a list of at most :data:`MAX_URLS` strings."""
    if not isinstance(urls, list) or len(urls) > MAX_URLS or not all(isinstance(u, str) for u in urls):
        raise ValueError(f"hostile_urls must be a list of at most {MAX_URLS} URL strings")


def redirect(path: str, urls: list[str]) -> web.Response | None:
    """The answer of the site's open redirect to ``urls[i]``, if ``path`` is one."""
    if not path.startswith(REDIRECT_PREFIX):
        return None
    index = path.removeprefix(REDIRECT_PREFIX).split("/", 1)[0]
    if not index.isdigit() or int(index) >= len(urls):
        raise web.HTTPNotFound(text="no such hostile redirect")
    return web.Response(status=302, headers={"Location": urls[int(index)]})


def inject(text: str, urls: list[str], path: str) -> str:
    """``text`` (an HTML page at ``path``) carrying ``urls`` wherever a crawler fetches from."""
    chosen = escape(urls[zlib.crc32(path.encode()) % len(urls)])
    text = _LARGE_IMAGE.sub(f'data-old-hires="{chosen}"', text)
    text = _CARD_IMAGE.sub(lambda match: f'{match.group(1)}{chosen}"', text)
    links = "".join(f'<a class="a-link-normal" href="{escape(url)}">Manual</a>' for url in urls)
    links += "".join(
        f'<a class="a-link-normal" href="{REDIRECT_PREFIX}{i}/manual.pdf">Guide</a>' for i in range(len(urls))
    )
    images = "".join(f'<img alt="" src="{escape(url)}">' for url in urls)
    calls = json.dumps(urls).replace("</", "<\\/")
    script = (
        f"<script>{calls}.forEach(function (u) {{ try {{ var x = new XMLHttpRequest(); "
        "x.open('GET', u, false); x.send(); } catch (e) {} });</script>"
    )
    block = f'<div id="productDocuments_feature_div">{links}</div>{images}{script}'
    return text.replace("</body>", block + "</body>", 1)
