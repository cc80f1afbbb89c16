"""The origin guard in front of every download: pages, redirects, files and the browser's own requests.

:class:`OriginGuardMiddleware` is the first downloader middleware, so every request passes it:
the spider's, a redirect or meta refresh (re-scheduled as a new request), robots.txt, and the
files pipeline's (``engine.download_async`` goes through the middlewares too). It refuses with
:class:`RequestRefused` (an ``IgnoreRequest``), counts ``looqta/guard/refused/<reason>`` and logs.
Rendered pages' own requests (subresources, scripts' fetches) get the same decision: the guard
announces itself (:data:`origin_guard_opened`) and the browser's handler puts
:meth:`OriginGuard.browser_rule` in front of its abort rule.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import IgnoreRequest, NotConfigured

from looqta.guard.addresses import is_ip_literal
from looqta.guard.policy import OriginPolicy, SiteOrigins, origin_of
from looqta.guard.resolve import AddressCheck, system_resolver

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from typing import Self

    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings
    from scrapy.statscollectors import StatsCollector

    from looqta.guard.resolve import Resolver

logger = logging.getLogger(__name__)

STATS_PREFIX = "looqta/guard/refused"
#: ``origin_guard_opened(guard)``: sent once the crawl's guard knows its origins.
origin_guard_opened = object()
#: Where a sandbox site says which origins serve its files (loopback sites only are asked).
SANDBOX_ORIGINS_PATH = "/__sandbox__/origins"
SANDBOX_ASK_TIMEOUT_SECONDS = 5.0
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class RequestRefused(IgnoreRequest):
    """The origin guard refused the request; ``reason`` is the stat's last part."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"origin guard refused {url[:200]}: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class GuardConfig:
    enabled: bool = True
    dns_cache_seconds: float = 300.0

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> GuardConfig:
        config = cls(
            enabled=settings.getbool("LOOQTA_GUARD_ENABLED", True),
            dns_cache_seconds=settings.getfloat("LOOQTA_GUARD_DNS_CACHE_SECONDS", 300.0),
        )
        if config.dns_cache_seconds < 0:
            raise ValueError(f"LOOQTA_GUARD_DNS_CACHE_SECONDS must be >= 0, got {config.dns_cache_seconds}")
        return config


class OriginGuard:
    """One crawl's decision: :meth:`refusal` of a URL (``None``: fetch it), counted and logged."""

    def __init__(self, policy: OriginPolicy, addresses: AddressCheck, stats: StatsCollector) -> None:
        self.policy = policy
        self.addresses = addresses
        self.stats = stats

    async def refusal(self, url: str) -> str | None:
        reason = self.policy.refusal(url)
        if reason is None and (host := self.policy.host_to_resolve(url)) is not None:
            reason = await self.addresses.refusal(host)
        return reason

    def count(self, url: str, reason: str, where: str) -> None:
        self.stats.inc_value(f"{STATS_PREFIX}/{reason}")
        level = logging.WARNING if where == "download" else logging.INFO
        logger.log(level, "origin guard refused a %s of %s: %s", where, url[:200], reason)

    def browser_rule(self, then: Callable[[Any], Any] | None) -> Callable[[Any], Awaitable[bool]]:
        """A ``PLAYWRIGHT_ABORT_REQUEST`` rule: abort what the guard refuses, else ask ``then``."""

        async def should_abort(request: Any) -> bool:
            reason = await self.refusal(request.url)
            if reason is not None:
                self.count(request.url, reason, "browser request")
                return True
            if then is None:
                return False
            verdict = then(request)
            return bool(await verdict if asyncio.iscoroutine(verdict) else verdict)

        return should_abort


def spider_origins(spider: Spider | None) -> SiteOrigins | None:
    """What the spider declares (``site_origins``, see looqta.spiders.base), if anything."""
    declared = getattr(spider, "site_origins", None)
    return declared if isinstance(declared, SiteOrigins) else None


def _ask_sandbox(origin: str) -> tuple[str, ...]:
    """The file origins a sandbox site at ``origin`` names; none when it is no sandbox."""
    url = origin + SANDBOX_ORIGINS_PATH  # a configured loopback origin: see _is_local
    try:
        with _OPENER.open(url, timeout=SANDBOX_ASK_TIMEOUT_SECONDS) as answer:
            named = json.load(answer).get("origins", [])
    except (OSError, ValueError, AttributeError):  # no sandbox there: it names nothing
        return ()
    return tuple(url for url in named if isinstance(url, str) and origin_of(url) is not None)


def _is_local(url: str) -> bool:
    origin = origin_of(url)
    return origin is not None and (origin[1] == "localhost" or is_ip_literal(origin[1]))


class OriginGuardMiddleware:
    def __init__(self, crawler: Crawler, resolver: Resolver = system_resolver) -> None:
        self.config = GuardConfig.from_settings(crawler.settings)
        if not self.config.enabled:
            raise NotConfigured("LOOQTA_GUARD_ENABLED is off")
        self.crawler = crawler
        self.resolver = resolver
        self.guard: OriginGuard | None = None
        self._opening = asyncio.Lock()

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    async def process_request(self, request: Request) -> None:
        guard = self.guard or await self._open()
        reason = await guard.refusal(request.url)
        if reason is not None:
            guard.count(request.url, reason, "download")
            raise RequestRefused(request.url, reason)

    async def _open(self) -> OriginGuard:
        """The crawl's guard, built on its first request (a sandbox is asked for its CDN once)."""
        async with self._opening:
            if self.guard is None:
                self.guard = OriginGuard(
                    await self._policy(),
                    AddressCheck(self.resolver, self.config.dns_cache_seconds),
                    self.crawler.stats,  # type: ignore[arg-type]
                )
                self.crawler.signals.send_catch_log(origin_guard_opened, guard=self.guard)
            return self.guard

    async def _policy(self) -> OriginPolicy:
        declared = spider_origins(self.crawler.spider)
        if declared is None:
            logger.warning(
                "the spider declares no origins (site_origins): the origin guard checks schemes only"
            )
            return OriginPolicy(allowed=None)
        policy = OriginPolicy.for_site(declared)
        if not declared.cdn and declared.own and _is_local(declared.own[0]):
            named = await asyncio.to_thread(_ask_sandbox, declared.own[0])
            policy = policy.with_configured(named)
        logger.info("origin guard: allowed origins %s", sorted(policy.allowed or ()))
        return policy
