"""The origin guard's decision: which URLs a site's crawl may fetch (no name is ever resolved)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from scrapy import Request
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.test import get_crawler

from looqta.guard.middleware import OriginGuardMiddleware, RequestRefused, origin_guard_opened
from looqta.guard.policy import OriginPolicy, SiteOrigins, origin_of
from looqta.guard.resolve import AddressCheck
from looqta.spiders.amazon import AmazonSpider
from looqta.spiders.base import SpiderArgumentError
from looqta.spiders.noon import NoonSpider

REAL = OriginPolicy.for_site(SiteOrigins(own=("https://www.amazon.ae",), cdn=("https://m.media-amazon.com",)))
SANDBOX = OriginPolicy.for_site(
    SiteOrigins(own=("http://127.0.0.1:8001",), configured=("http://127.0.0.1:8001", "http://127.0.0.1:8003"))
)


class TableResolver:
    """Names to addresses from a table; counts the questions. Nothing leaves the process."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def __call__(self, host: str) -> list[str]:
        self.asked.append(host)
        if host not in self.table:
            raise OSError(f"no such name {host}")
        return self.table[host]


def test_origins_are_normalised() -> None:
    assert origin_of("HTTPS://WWW.Amazon.AE/dp/X") == ("https", "www.amazon.ae", 443)
    assert origin_of("http://127.0.0.1:8001/s?k=x") == ("http", "127.0.0.1", 8001)
    assert origin_of("http://[::1]:80/") == ("http", "::1", 80)
    assert origin_of("http://www.amazon.ae./") == ("http", "www.amazon.ae", 80)
    for url in (
        "file:///etc/passwd",
        "data:text/plain,x",
        "ftp://h/x",
        "s3://b/k",
        "http:///x",
        "http://h:99999/",
    ):
        assert origin_of(url) is None, url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("https://www.amazon.ae/dp/B0ABCDEFGH", None),
        ("https://m.media-amazon.com/images/I/x.jpg", None),
        ("https://www.amazon.ae:443/s?k=x", None),
        ("http://www.amazon.ae/dp/X", "origin"),  # another scheme is another origin
        ("https://www.amazon.ae:8443/", "origin"),
        ("https://evil.example/x.pdf", "origin"),
        ("https://www.amazon.ae.evil.example/", "origin"),
        ("https://www.amazon.ae@evil.example/", "origin"),  # userinfo is not the host
        ("http://127.0.0.1:9100/metrics", "origin"),
        ("http://169.254.169.254/latest/meta-data/", "origin"),
        ("file:///etc/passwd", "scheme"),
        ("file:///dev/zero", "scheme"),
        ("data:application/pdf;base64,JVBERi0=", "scheme"),
        ("ftp://www.amazon.ae/x", "scheme"),
        ("s3://bucket/key", "scheme"),
        ("javascript:alert(1)", "scheme"),
    ],
)
def test_only_the_sites_own_and_cdn_origins_over_http_s(url: str, reason: str | None) -> None:
    assert REAL.refusal(url) == reason


def test_names_of_allowed_origins_are_resolved_and_configured_origins_are_not() -> None:
    assert REAL.host_to_resolve("https://m.media-amazon.com/x.jpg") == "m.media-amazon.com"
    assert SANDBOX.host_to_resolve("http://127.0.0.1:8001/s") is None
    # the sandbox's loopback origins are configured there: allowed as they are
    assert SANDBOX.refusal("http://127.0.0.1:8001/dp/X") is None
    assert SANDBOX.refusal("http://127.0.0.1:8003/images/X.jpg") is None
    # any other loopback port is not the site
    assert SANDBOX.refusal("http://127.0.0.1:8002/dp/X") == "origin"
    assert SANDBOX.refusal("http://localhost:8001/dp/X") == "origin"


def test_a_listed_ip_literal_not_configured_is_judged_by_its_address() -> None:
    policy = OriginPolicy.for_site(SiteOrigins(own=("https://www.amazon.ae",), cdn=("http://10.0.0.5",)))
    assert policy.refusal("http://10.0.0.5/x.jpg") == "address_private"


def test_a_spider_that_declares_no_origins_gets_the_scheme_check_only() -> None:
    open_policy = OriginPolicy(allowed=None)
    assert open_policy.refusal("http://127.0.0.1:5/x") is None
    assert open_policy.refusal("file:///etc/passwd") == "scheme"
    assert open_policy.host_to_resolve("https://example.com/") is None


def test_address_check_refuses_names_that_resolve_inside_and_caches_its_verdicts() -> None:
    resolver = TableResolver(
        {"m.media-amazon.com": ["93.184.216.34"], "rebound.example": ["93.184.216.34", "127.0.0.1"]}
    )
    now = [0.0]
    check = AddressCheck(resolver, ttl_seconds=60, clock=lambda: now[0])

    async def scenario() -> list[str | None]:
        return [
            await check.refusal("m.media-amazon.com"),
            await check.refusal("rebound.example"),  # one inside address is enough
            await check.refusal("nowhere.example"),
            await check.refusal("m.media-amazon.com"),  # cached
        ]

    assert asyncio.run(scenario()) == [None, "address_loopback", "unresolved", None]
    assert resolver.asked == ["m.media-amazon.com", "rebound.example", "nowhere.example"]
    now[0] = 61.0
    asyncio.run(check.refusal("m.media-amazon.com"))
    assert resolver.asked[-1] == "m.media-amazon.com"  # asked again once the verdict expired


def test_spiders_declare_their_real_origins_and_take_the_operators() -> None:
    real = AmazonSpider(q="x").site_origins
    assert real == SiteOrigins(own=("https://www.amazon.ae",), cdn=("https://m.media-amazon.com",))
    assert NoonSpider(q="x").site_origins.cdn == ("https://f.nooncdn.com",)
    elsewhere = AmazonSpider(
        q="x", base_url="http://127.0.0.1:8001/", cdn_url="http://127.0.0.1:8003/"
    ).site_origins
    assert elsewhere == SiteOrigins(
        own=("http://127.0.0.1:8001",),
        cdn=("http://127.0.0.1:8003",),
        configured=("http://127.0.0.1:8001", "http://127.0.0.1:8003"),
    )
    with pytest.raises(SpiderArgumentError, match="cdn_url must be http"):
        AmazonSpider(q="x", cdn_url="file:///etc")


def guarded(spider: Any, resolver: TableResolver, **settings: Any) -> OriginGuardMiddleware:
    crawler = get_crawler(type(spider), settings_dict=settings)
    crawler.stats = MemoryStatsCollector(crawler)
    crawler.spider = spider
    return OriginGuardMiddleware(crawler, resolver=resolver)


def test_the_middleware_refuses_with_ignore_request_a_stat_and_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    resolver = TableResolver({"www.amazon.ae": ["93.184.216.34"], "m.media-amazon.com": ["10.0.0.7"]})
    middleware = guarded(AmazonSpider(q="x"), resolver)
    announced: list[Any] = []
    middleware.crawler.signals.connect(
        lambda guard: announced.append(guard), signal=origin_guard_opened, weak=False
    )

    async def outcome(url: str) -> str | None:
        try:
            await middleware.process_request(Request(url))
        except RequestRefused as exc:
            return exc.reason
        return None

    async def scenario() -> list[str | None]:
        return [
            await outcome("https://www.amazon.ae/s?k=x"),
            await outcome("https://m.media-amazon.com/x.jpg"),  # its name resolves inside: refused
            await outcome("file:///etc/passwd"),
            await outcome("http://127.0.0.1:9100/metrics"),
        ]

    assert asyncio.run(scenario()) == [None, "address_private", "scheme", "origin"]
    assert announced == [middleware.guard]  # the browser's handler learns the same guard, once
    stats = middleware.crawler.stats.get_stats()
    assert stats["looqta/guard/refused/scheme"] == 1
    assert stats["looqta/guard/refused/origin"] == 1
    assert stats["looqta/guard/refused/address_private"] == 1
    assert "origin guard refused a download of file:///etc/passwd: scheme" in caplog.text
    assert resolver.asked == ["www.amazon.ae", "m.media-amazon.com"]  # never the refused ones


def test_the_browser_rule_aborts_what_the_guard_refuses_then_asks_the_configured_rule() -> None:
    middleware = guarded(AmazonSpider(q="x", base_url="http://127.0.0.1:8001"), TableResolver({}))
    asyncio.run(middleware.process_request(Request("http://127.0.0.1:8001/s?k=x")))
    assert middleware.guard is not None
    rule = middleware.guard.browser_rule(lambda request: request.url.endswith(".png"))

    class PageRequest:
        def __init__(self, url: str) -> None:
            self.url = url

    async def verdicts() -> list[bool]:
        urls = ("http://127.0.0.1:8001/app.js", "http://127.0.0.1:8001/x.png", "http://127.0.0.1:9/steal")
        return [await rule(PageRequest(url)) for url in urls]

    assert asyncio.run(verdicts()) == [False, True, True]
    assert middleware.crawler.stats.get_value("looqta/guard/refused/origin") == 1


def test_the_guard_can_be_switched_off_and_its_settings_are_checked() -> None:
    from scrapy.exceptions import NotConfigured

    with pytest.raises(NotConfigured):
        guarded(AmazonSpider(q="x"), TableResolver({}), LOOQTA_GUARD_ENABLED=False)
    with pytest.raises(ValueError, match="LOOQTA_GUARD_DNS_CACHE_SECONDS"):
        guarded(AmazonSpider(q="x"), TableResolver({}), LOOQTA_GUARD_DNS_CACHE_SECONDS=-1)
