"""What every route of one sandbox site needs: its catalogue and serving options."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from looqta.sandbox.catalogue import Catalogue


@dataclass(frozen=True)
class SiteContext:
    site: str
    catalogue: Catalogue
    pdf_pages: int = 1
    #: Origin of the site's images and documents (its CDN), e.g. ``http://127.0.0.1:8103``;
    #: empty: the site's own origin (links are relative).
    assets: str = ""
    #: The front-end build whose hashed class names the pages carry (noon).
    build: str = "current"


SITE_KEY = web.AppKey("looqta_site", SiteContext)


def site_context(request: web.Request) -> SiteContext:
    return request.app[SITE_KEY]


def page_number(request: web.Request) -> int:
    """The ``page`` query parameter (1 when absent); 400 unless it is an integer >= 1."""
    try:
        page = int(request.query.get("page", "1"))
    except ValueError:
        raise web.HTTPBadRequest(text="page must be an integer") from None
    if page < 1:
        raise web.HTTPBadRequest(text="page must be >= 1")
    return page
