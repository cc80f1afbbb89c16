"""Build one aiohttp application per sandbox site and serve each on its own loopback port.

Each site's images and documents are served from a second origin, its CDN (``<site>-cdn`` in
the URL map), as the real sites do (amazon from m.media-amazon.com, noon from f.nooncdn.com):
a crawler's file downloads then go to another host than its pages, with their own download
slot and cooldown. The site's own origin serves the same file routes too.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field

from aiohttp import web

from looqta.sandbox import sites as registry
from looqta.sandbox.catalogue import Catalogue
from looqta.sandbox.context import SITE_KEY, SiteContext, site_context
from looqta.sandbox.faults import add_control_routes, fault_middleware
from looqta.sandbox.files import add_file_routes
from looqta.sandbox.prices import add_price_routes
from looqta.sandbox.render_fixture import add_render_routes
from looqta.sandbox.state_page import add_state_route

logger = logging.getLogger(__name__)

CDN_SUFFIX = "-cdn"


def cdn_name(site: str) -> str:
    """The URL map's key of ``site``'s CDN origin."""
    return site + CDN_SUFFIX


def ensure_loopback(host: str) -> None:
    """Raise ``ValueError`` unless ``host`` is a loopback address (or ``localhost``)."""
    if host == "localhost":
        return
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"host {host!r} is not an IP address; use 127.0.0.1") from None
    if not address.is_loopback:
        raise ValueError(f"refusing to listen on non-loopback host {host!r}; use 127.0.0.1")


@dataclass(frozen=True)
class SandboxConfig:
    """Start-up options. With a fixed ``port`` P, a site listens on P + its index among the
    stand-ins (``sites.names()``: amazon P, noon P+1) and its CDN on P + their count + that index
    (amazon P+2, noon P+3), whichever sites are selected; with port 0 each gets a free port.
    ``cdn=False``: the site serves its files itself (relative links)."""

    host: str = "127.0.0.1"
    port: int = 0
    sites: tuple[str, ...] = field(default_factory=registry.names)
    products: int = 10_000
    seed: int = 1234
    pdf_pages: int = 1
    cdn: bool = True
    build: str = "current"

    def __post_init__(self) -> None:
        ensure_loopback(self.host)
        known = registry.names()
        unknown = sorted(set(self.sites) - set(known))
        if unknown or not self.sites:
            raise ValueError(f"sites must be a non-empty subset of {known}; got {self.sites}")
        if not 0 <= self.port <= 65535 - 2 * len(known):
            raise ValueError(f"port must be in 0..{65535 - 2 * len(known)}")
        if self.products < 1:
            raise ValueError("products must be >= 1")
        if self.pdf_pages < 1:
            raise ValueError("pdf_pages must be >= 1")

    def port_for(self, site: str) -> int:
        return 0 if self.port == 0 else self.port + registry.names().index(site)

    def cdn_port_for(self, site: str) -> int:
        known = registry.names()
        return 0 if self.port == 0 else self.port + len(known) + known.index(site)


async def _origins(request: web.Request) -> web.Response:
    """The origins serving this site's files, besides its own: what a crawler's origin guard
    allows when it is pointed at the sandbox (looqta.guard.middleware)."""
    assets = site_context(request).assets
    return web.json_response({"origins": [assets] if assets else []})


def build_app(
    site: str, catalogue: Catalogue, pdf_pages: int = 1, assets: str = "", build: str = "current"
) -> web.Application:
    """The site: its pages, its file routes, faults, the price control and the request log."""
    app = web.Application(middlewares=[fault_middleware])
    app[SITE_KEY] = SiteContext(
        site=site, catalogue=catalogue, pdf_pages=pdf_pages, assets=assets, build=build
    )
    add_control_routes(app, site)
    add_price_routes(app)
    app.router.add_get("/__sandbox__/origins", _origins)
    add_state_route(app)
    add_file_routes(app)
    add_render_routes(app)
    registry.get(site).add_routes(app)
    return app


def build_cdn_app(site: str, catalogue: Catalogue, pdf_pages: int = 1) -> web.Application:
    """The site's CDN: its file routes only, with faults and a request log of its own."""
    app = web.Application(middlewares=[fault_middleware])
    app[SITE_KEY] = SiteContext(site=site, catalogue=catalogue, pdf_pages=pdf_pages)
    add_control_routes(app, site)
    add_file_routes(app)
    return app


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class SandboxServer:
    """All selected sites in the current event loop: ``await start()`` then ``await stop()``."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.urls: dict[str, str] = {}
        self._runners: list[web.AppRunner] = []

    async def start(self) -> dict[str, str]:
        """Listen; the URL map: each site, then (with ``cdn``) each site's CDN as ``<site>-cdn``."""
        config = self.config
        cdn_urls: dict[str, str] = {}
        for site in config.sites:
            catalogue = Catalogue(site, config.products, config.seed)
            assets = ""
            if config.cdn:
                cdn = build_cdn_app(site, catalogue, config.pdf_pages)
                assets = cdn_urls[cdn_name(site)] = await self._listen(cdn, config.cdn_port_for(site))
            app = build_app(site, catalogue, config.pdf_pages, assets, config.build)
            self.urls[site] = await self._listen(app, config.port_for(site))
            files = assets or "same origin"
            logger.info("sandbox %s listening on %s (files: %s)", site, self.urls[site], files)
        self.urls.update(cdn_urls)
        return dict(self.urls)

    async def _listen(self, app: web.Application, port: int) -> str:
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        self._runners.append(runner)
        await web.TCPSite(runner, self.config.host, port).start()
        return _url(self.config.host, runner.addresses[0][1])

    async def stop(self) -> None:
        while self._runners:
            await self._runners.pop().cleanup()
