"""Block pages fail their request with a kind; the site alone cools down, the request is retried.

Every answer to one of the spider's pages (``meta["looqta_page_type"]``) is classified
(``looqta.blocks.classify`` with the spider's ``block_signatures``).
A block page never reaches the spider. Instead:

* it is counted (``looqta/blocks/<kind>``, ``looqta/blocks/total``) and logged;
* the site's slot cools down as soon as the answer arrives (``response_downloaded``),
  ``LOOQTA_BLOCKS_BACKOFF_SECONDS`` doubled for every block in a row from that site (up to
  ``LOOQTA_BLOCKS_BACKOFF_MAX_SECONDS``), reset by its next good answer; a JavaScript challenge
  answered to plain HTTP does not cool it down: it goes to the browser (unless the render mode
  is pinned to plain HTTP), and the page type is reported as needing it;
* the request, as the spider asked for it (before any redirect), is retried
  (``LOOQTA_BLOCKS_MAX_RETRIES``, sharing Scrapy's ``retry_times``); out of retries it fails
  with :class:`Blocked` (``looqta/blocks/gave_up``).

A crawl whose site answered nothing but blocks, and gave up on at least one request, ends with
finish reason ``blocked`` instead of ``finished``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.exceptions import CloseSpider, IgnoreRequest, NotConfigured
from scrapy.http import TextResponse

from looqta.blocks import BROWSER_HELPS, classify
from looqta.middlewares.cooldown import SlotCooldown
from looqta.render.adaptive import BROWSER, HTTP
from looqta.render.middleware import (
    PROBE_META_KEY,
    VIA_META_KEY,
    AdaptiveRenderMiddleware,
    render_policy_opened,
    route_key,
)
from looqta.spiders.base import PAGE_TYPE_META_KEY

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

KIND_META_KEY = "looqta_block_kind"
WAIT_META_KEY = "looqta_block_wait_seconds"
FINISH_REASON = "blocked"


class Blocked(IgnoreRequest):
    """The site answered a request with block pages until its retries ran out."""

    def __init__(self, kind: str, url: str) -> None:
        super().__init__(f"blocked ({kind}): {url}")
        self.kind = kind


@dataclass(frozen=True)
class BlocksConfig:
    enabled: bool
    max_retries: int
    backoff_seconds: float
    backoff_max_seconds: float

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> BlocksConfig:
        config = cls(
            enabled=settings.getbool("LOOQTA_BLOCKS_ENABLED", True),
            max_retries=settings.getint("LOOQTA_BLOCKS_MAX_RETRIES", 3),
            backoff_seconds=settings.getfloat("LOOQTA_BLOCKS_BACKOFF_SECONDS", 5.0),
            backoff_max_seconds=settings.getfloat("LOOQTA_BLOCKS_BACKOFF_MAX_SECONDS", 300.0),
        )
        if config.max_retries < 0:
            raise ValueError("LOOQTA_BLOCKS_MAX_RETRIES must be >= 0")
        if not 0 <= config.backoff_seconds <= config.backoff_max_seconds:
            raise ValueError(
                "LOOQTA_BLOCKS_BACKOFF_SECONDS must be >= 0 and <= LOOQTA_BLOCKS_BACKOFF_MAX_SECONDS"
            )
        return config

    def backoff(self, blocks_in_a_row: int) -> float:
        """The cool-down after the ``blocks_in_a_row``-th block in a row (1, 2, ...)."""
        return min(self.backoff_seconds * 2 ** (blocks_in_a_row - 1), self.backoff_max_seconds)


class BlockMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        self.config = BlocksConfig.from_settings(crawler.settings)
        if not self.config.enabled:
            raise NotConfigured("LOOQTA_BLOCKS_ENABLED is off")
        self.crawler = crawler
        self.stats = crawler.stats
        self.cooldown = SlotCooldown.of(crawler)
        self.render: AdaptiveRenderMiddleware | None = None
        self.in_a_row = 0
        crawler.signals.connect(self._response_downloaded, signal=signals.response_downloaded)
        crawler.signals.connect(self._render_policy_opened, signal=render_policy_opened)
        crawler.signals.connect(self._spider_idle, signal=signals.spider_idle)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def _render_policy_opened(self, policy: AdaptiveRenderMiddleware) -> None:
        self.render = policy

    @staticmethod
    def _judged(request: Request) -> bool:
        """Only the spider's own pages (not robots.txt, not files), and not given up on."""
        return PAGE_TYPE_META_KEY in request.meta and not request.meta.get("dont_retry")

    def _to_browser(self, kind: str, request: Request) -> bool:
        """Whether this block is one the browser gets past, and the browser may be used."""
        render = self.render
        return (
            kind in BROWSER_HELPS
            and render is not None
            and render.config.mode != HTTP
            and request.meta.get(VIA_META_KEY) != BROWSER
        )

    def _response_downloaded(self, response: Response, request: Request, spider: Spider) -> None:
        """Classify as soon as the answer arrives: the slot is held before its next request leaves
        (``process_response`` runs after the downloader has started it)."""
        if not self._judged(request):
            return
        body = response.text if isinstance(response, TextResponse) else ""
        kind = classify(response.status, body, getattr(spider, "block_signatures", ()))
        if kind is None:
            self.in_a_row = 0
            return
        request.meta[KIND_META_KEY] = kind
        if self._to_browser(kind, request):
            # The site asks for a browser, it does not refuse service: the browser gets past
            # this by itself, so the site keeps its pace (docs/BENCHMARKS.md, session 9).
            request.meta[WAIT_META_KEY] = 0.0
            return
        self.in_a_row += 1
        wait = self.config.backoff(self.in_a_row)
        self.cooldown.hold(request, wait)
        request.meta[WAIT_META_KEY] = wait
        self.stats.max_value("looqta/blocks/max_backoff_seconds", wait)

    def process_response(self, request: Request, response: Response) -> Request | Response:
        if not self._judged(request):
            return response
        kind = request.meta.pop(KIND_META_KEY, None)
        if kind is None:
            self.stats.inc_value("looqta/blocks/passed")
            return response
        return self._blocked(request, response, kind, request.meta.pop(WAIT_META_KEY, 0.0))

    def _blocked(self, request: Request, response: Response, kind: str, wait: float) -> Request:
        self.stats.inc_value("looqta/blocks/total")
        self.stats.inc_value(f"looqta/blocks/{kind}")
        spider: Spider | None = self.crawler.spider
        to_browser = self._to_browser(kind, request)
        page_type = self.render.page_type(request) if self.render else None
        if to_browser and self.render is not None and page_type is not None:
            key = route_key(spider.name if spider else "", page_type.name)
            self.render.report(key, ok=False, probe=bool(request.meta.get(PROBE_META_KEY)), reason=kind)
        retry = get_retry_request(
            original(request),
            spider=spider,
            reason=f"blocked: {kind}",
            max_retry_times=self.config.max_retries,
            stats_base_key="looqta/blocks/retry",
        )
        if retry is None:
            self.stats.inc_value("looqta/blocks/gave_up")
            logger.error(
                "%s: %s page (HTTP %d); out of retries, giving up on it",
                request.url,
                kind,
                response.status,
                extra={"spider": spider},
            )
            raise Blocked(kind, request.url)
        logger.warning(
            "%s: %s page (HTTP %d); the site cools down %.1f s; retry %d of %d%s",
            request.url,
            kind,
            response.status,
            wait,
            retry.meta["retry_times"],
            self.config.max_retries,
            " in the browser" if to_browser else "",
            extra={"spider": spider},
        )
        if to_browser and self.render is not None and page_type is not None:
            retry.meta.pop(PROBE_META_KEY, None)
            self.render.to_browser(retry, page_type)
        return retry

    def _spider_idle(self, spider: Spider) -> None:
        if self.stats.get_value("looqta/blocks/gave_up", 0) and not self.stats.get_value(
            "looqta/blocks/passed", 0
        ):
            logger.error("every answer of %s was a block page: closing as %r", spider.name, FINISH_REASON)
            raise CloseSpider(FINISH_REASON)


def original(request: Request) -> Request:
    """The request as the spider made it: a block reached through a redirect is retried at the
    URL that was asked for, not at the block page it was sent to."""
    urls = request.meta.get("redirect_urls")
    if not urls:
        return request
    meta = {k: v for k, v in request.meta.items() if not k.startswith("redirect_")}
    return request.replace(url=urls[0], meta=meta)
