"""Block pages fail their request with a kind; the site alone cools down, the request is retried.

Every answer to one of the spider's pages (``meta["looqta_page_type"]``) is classified
(``looqta.blocks.classify`` with the spider's ``block_signatures``).
A block page never reaches the spider. Instead:

* it is counted (``looqta/blocks/<kind>``, ``looqta/blocks/total``) and logged;
* the site's slot cools down, ``LOOQTA_BLOCKS_BACKOFF_SECONDS`` doubled for every block in a row
  from that site (up to ``LOOQTA_BLOCKS_BACKOFF_MAX_SECONDS``), reset by its next good answer;
  a JavaScript challenge answered to plain HTTP does not cool it down: it goes to the browser;
* the request is retried (``LOOQTA_BLOCKS_MAX_RETRIES``), through the browser where that helps
  (a JavaScript challenge); out of retries it fails with :class:`Blocked`
  (``looqta/blocks/gave_up``).

A crawl whose site answered nothing but blocks, and gave up on at least one request, ends with
finish reason ``blocked`` instead of ``finished``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.exceptions import CloseSpider, IgnoreRequest, NotConfigured
from scrapy.http import TextResponse

from looqta.blocks import BROWSER_HELPS, classify
from looqta.middlewares.cooldown import SlotCooldown
from looqta.render.adaptive import BROWSER
from looqta.render.middleware import NEEDS_BROWSER_META_KEY, VIA_META_KEY
from looqta.spiders.base import PAGE_TYPE_META_KEY

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

RETRIES_META_KEY = "looqta_block_retries"
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
        self.cooldown = SlotCooldown(crawler)
        self.in_a_row = 0
        crawler.signals.connect(self._spider_idle, signal=signals.spider_idle)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_response(self, request: Request, response: Response) -> Request | Response:
        if PAGE_TYPE_META_KEY not in request.meta or request.meta.get("dont_retry"):
            return response  # not one of the spider's pages (robots.txt, files)
        body = response.text if isinstance(response, TextResponse) else ""
        signatures = getattr(self.crawler.spider, "block_signatures", ())
        kind = classify(response.status, body, signatures)
        if kind is None:
            self.in_a_row = 0
            self.stats.inc_value("looqta/blocks/passed")
            if response.status != 200 and request.meta.get(VIA_META_KEY) == BROWSER:
                return response.replace(status=200)  # the browser got past a challenge answered non-200
            return response
        return self._blocked(request, response, kind)

    def _blocked(self, request: Request, response: Response, kind: str) -> Request:
        self.stats.inc_value("looqta/blocks/total")
        self.stats.inc_value(f"looqta/blocks/{kind}")
        to_browser = kind in BROWSER_HELPS and request.meta.get(VIA_META_KEY) != BROWSER
        if to_browser:
            # The site asks for a browser, it does not refuse service: the browser gets past
            # this by itself, so the site keeps its pace (docs/BENCHMARKS.md, session 9).
            wait, slot = 0.0, request.meta.get("download_slot", "")
        else:
            self.in_a_row += 1
            wait = self.config.backoff(self.in_a_row)
            slot = self.cooldown.hold(request, wait)
            self.stats.max_value("looqta/blocks/max_backoff_seconds", wait)
        retries = request.meta.get(RETRIES_META_KEY, 0)
        spider: Spider | None = self.crawler.spider
        if retries >= self.config.max_retries:
            self.stats.inc_value("looqta/blocks/gave_up")
            logger.error(
                "%s: %s page (HTTP %d) after %d retries; giving up on it",
                request.url,
                kind,
                response.status,
                retries,
                extra={"spider": spider},
            )
            raise Blocked(kind, request.url)
        logger.warning(
            "%s: %s page (HTTP %d); slot %r cools down %.1f s, retry %d of %d%s",
            request.url,
            kind,
            response.status,
            slot,
            wait,
            retries + 1,
            self.config.max_retries,
            " in the browser" if to_browser else "",
            extra={"spider": spider},
        )
        retry = request.replace(dont_filter=True)
        retry.meta[RETRIES_META_KEY] = retries + 1
        retry.priority = request.priority + 1
        if to_browser:
            retry.meta.pop(VIA_META_KEY, None)
            retry.meta[NEEDS_BROWSER_META_KEY] = True
        return retry

    def _spider_idle(self, spider: Spider) -> None:
        if self.stats.get_value("looqta/blocks/gave_up", 0) and not self.stats.get_value(
            "looqta/blocks/passed", 0
        ):
            logger.error("every answer of %s was a block page: closing as %r", spider.name, FINISH_REASON)
            raise CloseSpider(FINISH_REASON)
