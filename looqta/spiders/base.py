"""What every site's search spider shares: arguments, and how a page is fetched.

A site spider only knows its site: URLs, selectors, and which page types need
JavaScript. Whether a page goes through the browser or plain HTTP is decided
per page type, in the spider, with :meth:`SearchSpider.browser_request` or
:meth:`SearchSpider.http_request`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import scrapy
from scrapy_playwright.page import PageMethod

from looqta.pqueues import JOB_PRIORITY

if TYPE_CHECKING:
    from collections.abc import Callable

    from scrapy.crawler import Crawler

JOB_KINDS: tuple[str, ...] = tuple(JOB_PRIORITY)


class SpiderArgumentError(ValueError):
    """A spider argument is missing or invalid; raised before any request is made."""


@dataclass(frozen=True)
class SearchArgs:
    """The arguments of a search spider (``-a q=... -a max_pages=...``), validated once."""

    q: str
    base_url: str
    max_pages: int | None = None
    job: str = "manual"

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any], default_base_url: str) -> SearchArgs:
        q = str(kwargs.get("q") or "").strip()
        if not q:
            raise SpiderArgumentError("the search query is missing: pass -a q=<words>")
        base_url = str(kwargs.get("base_url") or default_base_url).rstrip("/")
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SpiderArgumentError(f"base_url must be an http(s) URL, got {base_url!r}")
        raw_pages = kwargs.get("max_pages")
        max_pages: int | None = None
        if raw_pages not in (None, ""):
            try:
                max_pages = int(str(raw_pages))
            except ValueError:
                raise SpiderArgumentError(
                    f"max_pages must be a positive integer, got {raw_pages!r}"
                ) from None
            if max_pages < 1:
                raise SpiderArgumentError(f"max_pages must be a positive integer, got {raw_pages!r}")
        job = str(kwargs.get("job") or "manual")
        if job not in JOB_KINDS:
            raise SpiderArgumentError(f"job must be one of {', '.join(JOB_KINDS)}, got {job!r}")
        return cls(q=q, base_url=base_url, max_pages=max_pages, job=job)

    def allows_page(self, page: int) -> bool:
        return self.max_pages is None or page <= self.max_pages


class SearchSpider(scrapy.Spider):
    """Base of the per-site product search spiders."""

    #: The real site's root; ``-a base_url=...`` points the spider elsewhere (the sandbox).
    default_base_url: ClassVar[str]

    @classmethod
    def check_arguments(cls, kwargs: dict[str, Any]) -> SearchArgs:
        """Validate ``-a`` arguments; raises :class:`SpiderArgumentError` with the reason."""
        return SearchArgs.from_kwargs(kwargs, cls.default_base_url)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = self.check_arguments(kwargs)
        super().__init__(*args, **kwargs)
        self.base_url = self.args.base_url
        self.render_wait_timeout_ms = 15_000.0

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SearchSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.render_wait_timeout_ms = crawler.settings.getfloat("LOOQTA_RENDER_WAIT_TIMEOUT_SECONDS") * 1000
        return spider

    @property
    def origin(self) -> str:
        """``scheme://host[:port]`` of the site, the key of its download slot."""
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    def http_request(self, url: str, callback: Callable[..., Any], **kwargs: Any) -> scrapy.Request:
        """A page whose content is in the HTML the server sends."""
        meta = {"looqta_job": self.args.job, **kwargs.pop("meta", {})}
        kwargs.setdefault("priority", JOB_PRIORITY[self.args.job])
        return scrapy.Request(url, callback=callback, meta=meta, **kwargs)

    def browser_request(
        self, url: str, callback: Callable[..., Any], wait_for: str, **kwargs: Any
    ) -> scrapy.Request:
        """A page whose content only exists once its JavaScript has run.

        The page is rendered in Chromium, the response body is the DOM once
        ``wait_for`` matches, and the page is closed afterwards.
        """
        meta = {
            "looqta_job": self.args.job,
            "playwright": True,
            "playwright_page_methods": [
                PageMethod("wait_for_selector", wait_for, timeout=self.render_wait_timeout_ms),
            ],
            **kwargs.pop("meta", {}),
        }
        kwargs.setdefault("priority", JOB_PRIORITY[self.args.job])
        return scrapy.Request(url, callback=callback, meta=meta, **kwargs)

    def scraped_at(self) -> str:
        return datetime.now(UTC).isoformat(timespec="seconds")
