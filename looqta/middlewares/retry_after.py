"""Honour ``429``/``503`` + ``Retry-After`` for the one site that sent it.

AutoThrottle adjusts delays from latency only and ignores these answers. On a
``429`` (or a ``503`` carrying ``Retry-After``) this middleware

* holds that response's download slot for the time the server asked for
  (bounded by ``LOOQTA_RETRY_AFTER_MAX_SECONDS``); requests already queued for
  the slot wait in it, while every other slot keeps downloading;
* retries the request (at most ``LOOQTA_RETRY_AFTER_MAX_RETRIES`` times, counted
  with Scrapy's ``retry_times`` so the two retry mechanisms share one budget).

A ``429`` without ``Retry-After`` cools the slot down for
``LOOQTA_RETRY_AFTER_DEFAULT_SECONDS``. A ``503`` without it is left to Scrapy's
``RetryMiddleware``.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from scrapy import signals
from scrapy.downloadermiddlewares.retry import get_retry_request
from scrapy.exceptions import NotConfigured

from looqta.middlewares.cooldown import SlotCooldown

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

#: delta-seconds (RFC 9110): ASCII digits only; ``str.isdigit`` also takes "²" and "٣".
_DELTA_SECONDS = re.compile(r"[0-9]+")

#: Request meta key carrying the wait decided on arrival to ``process_response``.
WAIT_META_KEY = "looqta_retry_after_seconds"


def parse_retry_after(value: str | bytes | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: ASCII delta-seconds or an HTTP date.

    ``now`` is the current Unix time; None when the value is absent or anything else.
    """
    if value is None:
        return None
    text = value.decode("latin-1") if isinstance(value, bytes) else value
    text = text.strip(" \t")
    if _DELTA_SECONDS.fullmatch(text):
        return float(text)
    if not text.isascii():
        return None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    try:
        return max(0.0, when.timestamp() - now)
    except (OverflowError, ValueError, OSError):
        return None


@dataclass(frozen=True)
class RetryAfterConfig:
    enabled: bool
    http_codes: frozenset[int]
    max_retries: int
    max_seconds: float
    default_seconds: float

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> RetryAfterConfig:
        config = cls(
            enabled=settings.getbool("LOOQTA_RETRY_AFTER_ENABLED", True),
            http_codes=frozenset(
                int(c) for c in settings.getlist("LOOQTA_RETRY_AFTER_HTTP_CODES", [429, 503])
            ),
            max_retries=settings.getint("LOOQTA_RETRY_AFTER_MAX_RETRIES", 3),
            max_seconds=settings.getfloat("LOOQTA_RETRY_AFTER_MAX_SECONDS", 300.0),
            default_seconds=settings.getfloat("LOOQTA_RETRY_AFTER_DEFAULT_SECONDS", 5.0),
        )
        if config.max_retries < 0:
            raise ValueError(f"LOOQTA_RETRY_AFTER_MAX_RETRIES must be >= 0, got {config.max_retries}")
        if not 0 < config.default_seconds <= config.max_seconds:
            raise ValueError(
                "LOOQTA_RETRY_AFTER_DEFAULT_SECONDS must be > 0 and <= LOOQTA_RETRY_AFTER_MAX_SECONDS"
            )
        return config


class RetryAfterMiddleware:
    def __init__(self, crawler: Crawler) -> None:
        self.config = RetryAfterConfig.from_settings(crawler.settings)
        if not self.config.enabled:
            raise NotConfigured("LOOQTA_RETRY_AFTER_ENABLED is off")
        self.crawler = crawler
        self.stats = crawler.stats
        self.cooldown = SlotCooldown.of(crawler)
        crawler.signals.connect(self._response_downloaded, signal=signals.response_downloaded)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def _response_downloaded(self, response: Response, request: Request, spider: Spider) -> None:
        """Cool the slot down as soon as the answer arrives.

        ``response_downloaded`` fires before the downloader hands the slot its
        next queued request; ``process_response`` would be too late for that one.
        """
        wait = self._wait_for(response, request)
        if wait is None:
            return
        request.meta[WAIT_META_KEY] = wait
        slot_key = self.cooldown.hold(request, wait)
        self.stats.inc_value(f"looqta/retry_after/{response.status}")
        self.stats.max_value("looqta/retry_after/max_wait_seconds", wait)
        logger.info(
            "%s answered %d: slot %r cools down for %.1f s",
            request.url,
            response.status,
            slot_key,
            wait,
            extra={"spider": spider},
        )

    def _wait_for(self, response: Response, request: Request) -> float | None:
        if response.status not in self.config.http_codes or request.meta.get("dont_retry"):
            return None
        wait = parse_retry_after(response.headers.get(b"Retry-After"), time.time())
        if wait is None:
            if response.status != 429:
                return None  # a plain 503: Scrapy's RetryMiddleware decides
            wait = self.config.default_seconds
        if wait > self.config.max_seconds:
            logger.warning(
                "%s asked to wait %.0f s; waiting LOOQTA_RETRY_AFTER_MAX_SECONDS=%.0f s instead",
                request.url,
                wait,
                self.config.max_seconds,
            )
            wait = self.config.max_seconds
        return wait

    def process_response(self, request: Request, response: Response) -> Request | Response:
        if request.meta.pop(WAIT_META_KEY, None) is None:
            return response
        retry = get_retry_request(
            request,
            spider=self.crawler.spider,
            reason=f"{response.status} Retry-After",
            max_retry_times=self.config.max_retries,
            stats_base_key="looqta/retry_after",
        )
        if retry is None:
            # Out of retries: hand the error response on, and keep Scrapy's
            # RetryMiddleware from spending a second budget on it.
            request.meta["dont_retry"] = True
            return response
        return retry
