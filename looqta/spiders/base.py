"""What every site's search spider shares: arguments, page types, and how a page is requested.

A site spider only knows its site: URLs, selectors and structured data, the page types it
reads (:class:`PageType`: which fields each must yield, what shows its content is there, what
its own "no results" looks like) and the block pages it answers with. Whether a page goes
through the browser or plain HTTP is not the spider's choice: ``looqta.render`` decides per
site and page type at run time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import scrapy

from looqta.guard.policy import SiteOrigins, origin_of
from looqta.items import ProductItem
from looqta.middlewares.slots import add_site_slot
from looqta.pqueues import REQUEST_PRIORITY_BY_JOB
from looqta.search.warm import WarmSearchMixin

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.settings import BaseSettings
    from twisted.python.failure import Failure

    from looqta.blocks import BlockSignature
    from looqta.extract import Extraction

JOB_KINDS: tuple[str, ...] = tuple(REQUEST_PRIORITY_BY_JOB)
#: ``meta`` keys a spider's requests carry.
PAGE_TYPE_META_KEY = "looqta_page_type"
JOB_META_KEY = "looqta_job"
SEARCH_ARGS_META_KEY = "looqta_search_args"
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


class SpiderArgumentError(ValueError):
    """A spider argument is missing or invalid; raised before any request is made."""


@dataclass(frozen=True)
class PageType:
    """A kind of page a spider reads.

    ``required``: fields every item it yields must carry, else the page counts as unparsed.
    ``ready``: CSS that matches once the page's content is there (what a browser waits for); it
    includes the site's own "no results" note, so a page that rightly yields nothing is fine.
    """

    name: str
    required: tuple[str, ...]
    ready: str


@dataclass(frozen=True)
class SearchArgs:
    """The arguments of a search spider (``-a q=... -a max_pages=...``), validated once."""

    q: str
    base_url: str
    max_pages: int | None = None
    job: str = "manual"
    details: bool = False
    #: ``-a cdn_url=URL[,URL...]``: the origins serving the site's files where ``base_url`` points.
    cdn_url: tuple[str, ...] = ()
    #: The search this is (a warm crawler's job, looqta.search); "" for a crawl of its own.
    search_id: str = ""

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any], default_base_url: str, *, warm: bool = False) -> SearchArgs:
        q = str(kwargs.get("q") or "").strip()
        if not q and not warm:
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
        raw_details = str(kwargs.get("details") or "").strip().lower()
        if raw_details not in _TRUE | _FALSE:
            raise SpiderArgumentError(f"details must be 1 or 0, got {kwargs.get('details')!r}")
        cdn_url = tuple(
            url.strip().rstrip("/") for url in str(kwargs.get("cdn_url") or "").split(",") if url.strip()
        )
        bad = [url for url in cdn_url if origin_of(url) is None]
        if bad:
            raise SpiderArgumentError(f"cdn_url must be http(s) URLs, got {', '.join(map(repr, bad))}")
        details = raw_details in _TRUE
        return cls(q=q, base_url=base_url, max_pages=max_pages, job=job, details=details, cdn_url=cdn_url)

    def allows_page(self, page: int) -> bool:
        return self.max_pages is None or page <= self.max_pages


def is_warm(kwargs: dict[str, Any]) -> bool:
    """``-a warm=1``: the spider stays up and takes its searches from Redis (looqta.search)."""
    raw = str(kwargs.get("warm") or "").strip().lower()
    if raw not in _TRUE | _FALSE:
        raise SpiderArgumentError(f"warm must be 1 or 0, got {kwargs.get('warm')!r}")
    return raw in _TRUE


class SearchSpider(WarmSearchMixin, scrapy.Spider):
    """Base of the per-site product search spiders: one search (``-a q=``), or warm (``-a warm=1``)."""

    #: The real site's root; ``-a base_url=...`` points the spider elsewhere (the sandbox).
    default_base_url: ClassVar[str]
    #: The page types this spider reads, by name.
    page_types: ClassVar[dict[str, PageType]]
    #: How this site's block pages look (``looqta.blocks``), beyond what every site shares.
    block_signatures: ClassVar[tuple[BlockSignature, ...]] = ()
    #: The site's politeness: its download slot (``concurrency``, ``delay`` floor, ``jitter``),
    #: used unless ``DOWNLOAD_SLOTS`` names the slot (looqta.middlewares.slots).
    download_slot: ClassVar[dict[str, Any]] = {}
    #: The real site's CDN origins (its images and documents). With ``-a base_url`` elsewhere,
    #: ``-a cdn_url`` names them; a sandbox site names its own (looqta.guard).
    cdn_origins: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def update_settings(cls, settings: BaseSettings) -> None:
        super().update_settings(settings)
        add_site_slot(settings, cls.name, cls.download_slot)

    @classmethod
    def check_arguments(cls, kwargs: dict[str, Any]) -> SearchArgs:
        """Validate ``-a`` arguments; raises :class:`SpiderArgumentError` with the reason."""
        return SearchArgs.from_kwargs(kwargs, cls.default_base_url, warm=is_warm(kwargs))

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> SearchSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        if spider.warm:
            spider.setup_warm(crawler)
        return spider

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = self.check_arguments(kwargs)
        super().__init__(*args, **kwargs)
        self.warm = is_warm(kwargs)
        self.base_url = self.args.base_url

    async def start(self) -> AsyncIterator[scrapy.Request]:
        """The search of ``-a q=``; none when warm (searches come from Redis)."""
        if not self.warm:
            for request in self.search_start(self.args):
                yield request

    def search_start(self, args: SearchArgs) -> Iterator[scrapy.Request]:
        """The first request(s) of the search ``args``."""
        raise NotImplementedError

    def search_args(self, response: Response) -> SearchArgs:
        """The arguments of the search ``response`` belongs to."""
        return response.meta.get(SEARCH_ARGS_META_KEY, self.args)

    @property
    def origin(self) -> str:
        """``scheme://host[:port]`` of the site, the key of its download slot."""
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def site_origins(self) -> SiteOrigins:
        """The only origins this crawl fetches from (looqta.guard): the site's and its CDN's.
        Where the operator points the spider (``base_url``, ``cdn_url``) is allowed as it is."""
        cdn = self.args.cdn_url
        if self.base_url == self.default_base_url.rstrip("/"):
            return SiteOrigins(own=(self.origin,), cdn=cdn or self.cdn_origins, configured=cdn)
        return SiteOrigins(own=(self.origin,), cdn=cdn, configured=(self.origin, *cdn))

    def page_request(
        self,
        url: str,
        page_type: str,
        callback: Callable[..., Any],
        args: SearchArgs | None = None,
        **kwargs: Any,
    ) -> scrapy.Request:
        """A request of search ``args`` (default: ``-a``'s) for one of this spider's page types;
        rendering is decided elsewhere. A warm crawler fetches a page again for each search
        (looqta.search.dupefilter)."""
        if page_type not in self.page_types:
            raise ValueError(f"{self.name} has no page type {page_type!r}")
        args = args or self.args
        meta = {
            JOB_META_KEY: args.job,
            PAGE_TYPE_META_KEY: page_type,
            SEARCH_ARGS_META_KEY: args,
            **kwargs.pop("meta", {}),
        }
        kwargs.setdefault("priority", REQUEST_PRIORITY_BY_JOB[args.job])
        return scrapy.Request(url, callback=callback, meta=meta, **kwargs)

    def scraped_at(self) -> str:
        return datetime.now(UTC).isoformat(timespec="seconds")

    # --- items: from a result, then (with -a details=1) merged with the product page -----------

    def result_item(self, found: Extraction, url: str | None, response: Response) -> ProductItem:
        """The item a search result yields (``url``: the product's canonical URL)."""
        image = found.get("image")
        return ProductItem(
            source=self.name,
            source_id=found.get("source_id"),
            title=found.get("title"),
            price=found.get("price"),
            currency=found.get("currency"),
            rating=found.get("rating"),
            review_count=found.get("review_count") or 0,
            url=url,
            brand=found.get("brand"),
            model=found.get("model"),
            gtin=found.get("gtin"),
            image_urls=[response.urljoin(image)] if image else [],
            scraped_at=self.scraped_at(),
            job=self.search_args(response).job,
        )

    def item_or_details(
        self, item: ProductItem, callback: Callable[..., Any], args: SearchArgs
    ) -> ProductItem | scrapy.Request:
        """The item itself, or (``-a details=1``) the request of its product page carrying it."""
        if not args.details or not item.url:
            return item
        return self.page_request(
            item.url, "product", callback, args, cb_kwargs={"item": item}, errback=self.details_failed
        )

    def merge_details(self, item: ProductItem, found: Extraction, response: Response) -> ProductItem:
        """The result's item with what its product page adds: the current price, the exact rating
        and review count (a result may round them: "1.2K"), the full-size image, brand, model number
        and GTIN, and any title the result lacked. A copy: a page read again (in the browser)
        starts from the result's item."""
        merged = replace(item)
        if found.get("price") is not None:
            merged.price = found.get("price")
            merged.currency = found.get("currency") or merged.currency
        for name in ("rating", "review_count"):
            if found.get(name) is not None:
                setattr(merged, name, found.get(name))
        if not merged.title and found.get("title"):
            merged.title = found.get("title")
        for name in ("brand", "model", "gtin"):  # the page names them, a result seldom does
            if found.get(name):
                setattr(merged, name, found.get(name))
        if found.get("image"):
            merged.image_urls = [response.urljoin(found.get("image"))]
        return merged

    def details_failed(self, failure: Failure) -> Iterator[ProductItem]:
        """The product page could not be read: the item from the search result still counts."""
        self.crawler.stats.inc_value("looqta/details/failed")
        item = failure.request.cb_kwargs["item"]  # type: ignore[attr-defined]
        self.logger.warning("details of %s not read (%s); keeping the search result", item.url, failure.value)
        yield item
