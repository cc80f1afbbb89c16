"""Route each page through plain HTTP or the browser, and check what each page yielded.

:class:`AdaptiveRenderMiddleware` (downloader) asks :class:`~looqta.render.adaptive.AdaptiveRender`
how to fetch a spider's page (``meta["looqta_page_type"]``) and, for the browser, adds the soft
wait for the page type's ``ready`` selector. It announces its decider with
:data:`render_policy_opened`, so :class:`PageCheckMiddleware` (spider) can report what each page
yielded: a plain page that does not show its content, or whose items lack the page type's
required fields, moves the page type to the browser and is fetched again there, so no page is
lost to the switch. A page's output is passed on as the callback yields it; only a plain page
that may still be read again holds it, from its first item lacking a required field, until it is
judged (:class:`PageOutput`). ``LOOQTA_RENDER_MODE`` = ``http`` or ``browser`` pins every page type (the
baselines of ``benchmarks/adaptive.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter, is_item
from scrapy import Request, signals
from scrapy.utils.asyncio import is_asyncio_available
from scrapy_playwright.page import PageMethod

from looqta.render.adaptive import BROWSER, HTTP, AdaptiveConfig, AdaptiveRender
from looqta.render.wait import wait_until_ready
from looqta.spiders.base import PAGE_TYPE_META_KEY

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.settings import BaseSettings

    from looqta.spiders.base import PageType

logger = logging.getLogger(__name__)

render_policy_opened = object()  #: sent with ``policy=`` (the crawl's :class:`AdaptiveRender`)
VIA_META_KEY = "looqta_render_via"
PROBE_META_KEY = "looqta_render_probe"
MODES = ("adaptive", HTTP, BROWSER)


@dataclass(frozen=True)
class RenderConfig:
    mode: str
    wait_timeout_ms: float
    adaptive: AdaptiveConfig

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> RenderConfig:
        mode = settings.get("LOOQTA_RENDER_MODE", "adaptive")
        if mode not in MODES:
            raise ValueError(f"LOOQTA_RENDER_MODE must be one of {MODES}, got {mode!r}")
        timeout = settings.getfloat("LOOQTA_RENDER_WAIT_TIMEOUT_SECONDS", 15.0)
        if timeout <= 0:
            raise ValueError("LOOQTA_RENDER_WAIT_TIMEOUT_SECONDS must be > 0")
        adaptive = AdaptiveConfig(
            probe_every=settings.getint("LOOQTA_RENDER_PROBE_EVERY", 10),
            probe_every_max=settings.getint("LOOQTA_RENDER_PROBE_EVERY_MAX", 80),
            probe_successes=settings.getint("LOOQTA_RENDER_PROBE_SUCCESSES", 2),
        )
        return cls(mode=mode, wait_timeout_ms=timeout * 1000, adaptive=adaptive)


def route_key(spider_name: str, page_type: str) -> str:
    return f"{spider_name}/{page_type}"


class AdaptiveRenderMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.config = RenderConfig.from_settings(crawler.settings)
        self.policy = AdaptiveRender(self.config.adaptive)
        # Spider middlewares are built after downloader ones: announce once all exist.
        crawler.signals.connect(self._engine_started, signal=signals.engine_started)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def _engine_started(self) -> None:
        self.crawler.signals.send_catch_log(render_policy_opened, policy=self)

    def page_type(self, request: Request) -> PageType | None:
        name = request.meta.get(PAGE_TYPE_META_KEY)
        page_types = getattr(self.crawler.spider, "page_types", None) or {}
        return page_types.get(name) if name else None

    def process_request(self, request: Request) -> None:
        page_type = self.page_type(request)
        if page_type is None:
            return
        key = route_key(self.crawler.spider.name, page_type.name)  # type: ignore[union-attr]
        via = request.meta.get(VIA_META_KEY)
        if via is None:  # a new page: decide; a retry or a refetch keeps where it was sent
            if self.config.mode != "adaptive":
                via, probe = self.config.mode, False
            else:
                via, probe = self.policy.choose(key)
            request.meta[VIA_META_KEY] = via
            request.meta[PROBE_META_KEY] = probe
            if probe:
                self.stats.inc_value(f"looqta/render/{key}/probes")
        self.stats.inc_value(f"looqta/render/{key}/{via}")
        if via == BROWSER:
            self.to_browser(request, page_type)  # a fresh wait for every attempt

    def to_browser(self, request: Request, page_type: PageType) -> None:
        """Have ``request`` rendered, waiting (softly) for ``page_type``'s content."""
        request.meta[VIA_META_KEY] = BROWSER
        request.meta["playwright"] = True
        request.meta["playwright_page_methods"] = [
            PageMethod(wait_until_ready, page_type.ready, self.config.wait_timeout_ms)
        ]

    def process_response(self, request: Request, response: Response) -> Response:
        methods = request.meta.get("playwright_page_methods") or ()
        for method in methods:
            if (
                isinstance(method, PageMethod)
                and method.method is wait_until_ready
                and method.result is False
            ):
                key = route_key(self.crawler.spider.name, request.meta.get(PAGE_TYPE_META_KEY, "?"))  # type: ignore[union-attr]
                self.stats.inc_value(f"looqta/render/{key}/wait_missed")
                logger.info("%s: ready selector not seen in time; parsing the page anyway", request.url)
        return response

    def report(self, key: str, *, ok: bool, probe: bool, reason: str = "") -> None:
        """A plain page of ``key`` was usable or not; switch the page type when that says so."""
        switched = self.policy.record(key, HTTP, ok, time.monotonic(), probe=probe, reason=reason)
        if probe:
            self.stats.inc_value(f"looqta/render/{key}/probes_{'passed' if ok else 'failed'}")
        if switched is not None:
            self.stats.inc_value(f"looqta/render/{key}/to_{switched}")
            self.stats.set_value(f"looqta/render/{key}/mode", switched)
            logger.info(
                "%s now goes through %s (%s)",
                key,
                "the browser" if switched == BROWSER else "plain HTTP",
                self.policy.route(key).switches[-1][2],
                extra={"spider": self.crawler.spider},
            )


class PageOutput:
    """What one page yields, judged as it passes: is the page usable (:attr:`ok`), and may each
    output go on now? Items and requests go on as they come while nothing argues for reading the
    page again; only a page that may still be read again in the browser holds its output, from
    its first item that lacks a required field, until it ends (then all of it, or a refetch)."""

    def __init__(self, page_type: PageType, *, shows_content: bool, may_refetch: bool) -> None:
        self.page_type = page_type
        self.shows_content = shows_content
        self.items = 0
        self.missing = 0
        #: None: outputs pass as they come; else the outputs held until the page ends.
        self.held: list[Any] | None = [] if may_refetch and not shows_content else None
        self.may_refetch = may_refetch

    @property
    def ok(self) -> bool:
        return self.shows_content and self.missing * 2 <= self.items

    def take(self, output: Any) -> bool:
        """Count ``output``; whether it goes on now (else it is held)."""
        if is_item(output):
            self.items += 1
            item = ItemAdapter(output)
            if any(item.get(field) in (None, "") for field in self.page_type.required):
                self.missing += 1
                if self.may_refetch and self.held is None:
                    self.held = []
        if self.held is None:
            return True
        self.held.append(output)
        return False


class PageCheckMiddleware:
    """Whether a spider page showed its content and its items carry the required fields.

    A page's items and requests are passed on as the callback yields them (a shopper's first
    offer does not wait for the rest of the page), each followed by a turn of the event loop:
    Scrapy's scraper fills its item queue from the whole chain without one otherwise, so the
    first item would reach the pipelines only once the callback ended.
    """

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.stats = crawler.stats
        self.render: AdaptiveRenderMiddleware | None = None
        crawler.signals.connect(self._render_policy_opened, signal=render_policy_opened)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def _render_policy_opened(self, policy: AdaptiveRenderMiddleware) -> None:
        self.render = policy

    def page_output(self, response: Response) -> PageOutput | None:
        """How to judge ``response``'s output; None for a page not to judge."""
        render = self.render
        page_type = render.page_type(response.request) if render and response.request else None
        if render is None or page_type is None:
            return None
        if not 200 <= response.status < 300:  # an error page the spider accepted: not a page to judge
            return None
        via = response.meta.get(VIA_META_KEY, HTTP)
        return PageOutput(
            page_type,
            shows_content=bool(response.css(page_type.ready)),
            may_refetch=via == HTTP and render.config.mode == "adaptive",
        )

    async def process_spider_output(
        self, response: Response, result: AsyncIterator[Any]
    ) -> AsyncIterator[Any]:
        page = self.page_output(response)
        if page is None:
            async for output in result:
                yield output
            return
        hand_over = is_asyncio_available()
        async for output in result:
            if page.take(output):
                yield output
                if hand_over:
                    await asyncio.sleep(0)  # the scraper's item workers take it now
        for output in self.page_ended(response, page):
            yield output

    def page_ended(self, response: Response, page: PageOutput) -> list[Any]:
        """Report ``page``; what it still has to pass on: its held outputs, or its refetch."""
        assert self.render is not None
        key = route_key(self.crawler.spider.name, page.page_type.name)  # type: ignore[union-attr]
        meta = response.meta
        self.stats.inc_value(f"looqta/pages/{page.page_type.name}/{'ok' if page.ok else 'unparsed'}")
        if page.may_refetch:
            self.render.report(
                key, ok=page.ok, probe=bool(meta.get(PROBE_META_KEY)), reason="plain page lacked its content"
            )
            if not page.ok and response.request is not None:
                self.stats.inc_value(f"looqta/render/{key}/refetched")
                retry = response.request.replace(dont_filter=True)
                retry.meta.pop(PROBE_META_KEY, None)
                self.render.to_browser(retry, page.page_type)
                return [retry]
        elif not page.ok:
            logger.warning(
                "%s: the rendered page shows no %s content either", response.url, page.page_type.name
            )
        return page.held or []
