"""Which URLs a site's crawl may fetch: a pure decision over its declared origins.

A site's crawl fetches over http(s) from its own origins and its CDN origins, nothing else.
Origins the operator configured at run time (``-a base_url``, ``-a cdn_url``, the sandbox's own
answer) are allowed as they are, wherever they point; every other allowed host name is resolved
first and refused when it points at a private, loopback or link-local address
(:mod:`looqta.guard.addresses`, :mod:`looqta.guard.resolve`).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from looqta.guard.addresses import address_refusal, is_ip_literal

SCHEMES: frozenset[str] = frozenset({"http", "https"})
DEFAULT_PORTS: dict[str, int] = {"http": 80, "https": 443}

#: ``(scheme, host, port)``, lower-cased, the port explicit.
Origin = tuple[str, str, int]


def origin_of(url: str) -> Origin | None:
    """``url``'s origin, or ``None`` when it is not an http(s) URL with a host and a valid port."""
    try:
        parts = urlsplit(url.strip())
        scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
    except ValueError:  # a port out of range, a malformed IPv6 literal
        return None
    if scheme not in SCHEMES or not host:
        return None
    return scheme, host.lower().rstrip("."), port if port is not None else DEFAULT_PORTS[scheme]


def origins_of(urls: tuple[str, ...] | list[str]) -> frozenset[Origin]:
    """The origins of ``urls``; ``ValueError`` naming the first that is not an http(s) URL."""
    found = set()
    for url in urls:
        origin = origin_of(url)
        if origin is None:
            raise ValueError(f"not an http(s) origin: {url!r}")
        found.add(origin)
    return frozenset(found)


@dataclass(frozen=True)
class SiteOrigins:
    """What a spider declares: its own origins, its CDN origins, and which of them the operator
    configured at run time (allowed as they are, even on loopback or a private network)."""

    own: tuple[str, ...]
    cdn: tuple[str, ...] = ()
    configured: tuple[str, ...] = ()


@dataclass(frozen=True)
class OriginPolicy:
    """The origins one crawl may fetch from. ``None`` as ``allowed``: the spider declares none
    (a test's or a one-off spider), and only the scheme is checked."""

    allowed: frozenset[Origin] | None
    configured: frozenset[Origin] = frozenset()

    @classmethod
    def for_site(cls, origins: SiteOrigins) -> OriginPolicy:
        configured = origins_of(origins.configured)
        return cls(allowed=origins_of((*origins.own, *origins.cdn)) | configured, configured=configured)

    def with_configured(self, urls: tuple[str, ...]) -> OriginPolicy:
        """This policy with more operator-configured origins (the sandbox's CDN, say)."""
        extra = origins_of(urls)
        return OriginPolicy((self.allowed or frozenset()) | extra, self.configured | extra)

    def refusal(self, url: str) -> str | None:
        """Why ``url`` must not be fetched (``scheme``, ``origin``), or ``None``: by its URL alone."""
        origin = origin_of(url)
        if origin is None:
            return "scheme"
        if self.allowed is None:
            return None
        if origin not in self.allowed:
            return "origin"
        host = origin[1]
        if origin not in self.configured and is_ip_literal(host.strip("[]")):
            return address_refusal(host.strip("[]"))
        return None

    def host_to_resolve(self, url: str) -> str | None:
        """The host name whose addresses decide ``url`` (``None``: an address, or configured)."""
        origin = origin_of(url)
        if self.allowed is None or origin is None or origin in self.configured:
            return None
        if is_ip_literal(origin[1].strip("[]")):
            return None
        return origin[1]
