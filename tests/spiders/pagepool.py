"""A test spider for the page pool: rendered noon listings and the sandbox's state page.

Modes (``-a mode=...``):

* ``listing``: renders ``pages`` listing pages of ``q`` (concurrently, as Scrapy allows);
* ``state``: renders ``/__sandbox__/state`` ``pages`` times, one after the other, and yields what
  each visit found of the earlier ones (cookies, localStorage, sessionStorage, window.name);
* ``faults``: renders listing pages 1-3; page 1's renderer crashes once, page 2's hangs once;
* ``limit``: changes the handler's page limit between phases (1, then 3, then 1) and reports
  the most pages seen rendering at once in each phase.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import scrapy
from scrapy_playwright.page import PageMethod

from looqta.pagepool.signals import page_pool_opened

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    from playwright.async_api import Page
    from scrapy.crawler import Crawler
    from scrapy.http import Response

    from looqta.pagepool.handler import PooledPlaywrightDownloadHandler

LISTING_LOADED = '[data-qa="product-list"][data-state="loaded"]'
STATE_DONE = '#seen[data-done="true"]'
#: Reads what the tab kept from earlier visits, then leaves some behind for the next one:
#: now, every few milliseconds for as long as the document lives, and while it unloads.
TAB_STATE_JS = """() => {
  const found = {sessionStorage: JSON.stringify(window.sessionStorage), name: window.name};
  window.sessionStorage.setItem("looqta_seen", "1");
  window.name = "looqta_seen";
  const storage = window.sessionStorage;
  setInterval(() => { storage.setItem("looqta_timer", "1"); window.name = "looqta_timer"; }, 2);
  for (const type of ["pagehide", "unload", "visibilitychange"]) {
    window.addEventListener(type, () => {
      storage.setItem("looqta_unload", "1");
      window.name = "looqta_unload";
    });
  }
  return found;
}"""
LIMIT_PHASES: tuple[tuple[int, int], ...] = ((1, 4), (3, 6), (1, 3))  # (page limit, renders)


class PagePoolSpider(scrapy.Spider):
    name = "pagepool"

    def __init__(self, noon: str, mode: str = "listing", pages: str = "12", q: str = "laptop", **kw: Any):
        super().__init__(**kw)
        self.noon = noon.rstrip("/")
        self.mode = mode
        self.pages = int(pages)
        self.q = q
        self.handlers: list[PooledPlaywrightDownloadHandler] = []
        self.faulted: set[str] = set()
        self.background: set[asyncio.Future[Any]] = set()
        self.phase = 0
        self.phase_done = 0
        self.next_page = 1

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> PagePoolSpider:
        spider = super().from_crawler(crawler, *args, **kwargs)
        crawler.signals.connect(spider._page_pool_opened, signal=page_pool_opened)
        return spider

    def _page_pool_opened(self, handler: PooledPlaywrightDownloadHandler) -> None:
        self.handlers.append(handler)

    async def start(self) -> AsyncIterator[scrapy.Request]:
        if self.mode == "listing":
            for page in range(1, self.pages + 1):
                yield self.listing(page)
        elif self.mode == "state":
            yield self.state(1)
        elif self.mode == "faults":
            yield self.listing(1, events={"load": "crash_once"})
            yield self.listing(2, events={"load": "hang_once"})
            yield self.listing(3)
        elif self.mode == "limit":
            for request in self.start_phase():
                yield request
        else:
            raise ValueError(f"unknown mode {self.mode!r}")

    # --- requests ---------------------------------------------------------------------------

    def listing(self, page: int, events: dict[str, str] | None = None) -> scrapy.Request:
        meta: dict[str, Any] = {
            "playwright": True,
            "playwright_page_methods": [PageMethod("wait_for_selector", LISTING_LOADED, timeout=10_000)],
        }
        if events:
            meta["playwright_page_event_handlers"] = events
        url = f"{self.noon}/__render__/listing?{urlencode({'q': self.q, 'page': page})}"
        return scrapy.Request(url, meta=meta, cb_kwargs={"page": page}, callback=self.parse_listing)

    def state(self, visit: int) -> scrapy.Request:
        return scrapy.Request(
            f"{self.noon}/__sandbox__/state?visit={visit}",
            meta={
                "playwright": True,
                "playwright_page_methods": [
                    PageMethod("wait_for_selector", STATE_DONE, timeout=10_000),
                    PageMethod("evaluate", TAB_STATE_JS),
                ],
            },
            cb_kwargs={"visit": visit},
            callback=self.parse_state,
        )

    def start_phase(self) -> Iterator[scrapy.Request]:
        limit, renders = LIMIT_PHASES[self.phase]
        for handler in self.handlers:
            handler.set_page_limit(limit)
        self.crawler.stats.set_value("looqta/pagepool/in_use_max", 0)
        self.phase_done = 0
        for _ in range(renders):
            yield self.listing(self.next_page)
            self.next_page += 1

    # --- callbacks --------------------------------------------------------------------------

    def parse_listing(self, response: Response, page: int) -> Iterator[Any]:
        skus = response.css('div[data-qa="product-box"]::attr(data-sku)').getall()
        yield {"page": page, "skus": skus}
        if self.mode != "limit":
            return
        self.phase_done += 1
        _, renders = LIMIT_PHASES[self.phase]
        if self.phase_done < renders:
            return
        stats = self.crawler.stats
        yield {
            "phase": self.phase,
            "page_limit": [handler.page_limit for handler in self.handlers],
            "in_use_max": stats.get_value("looqta/pagepool/in_use_max"),
            "pages_opened": stats.get_value("looqta/pagepool/pages_opened", 0),
            "pages_evicted": stats.get_value("looqta/pagepool/pages_evicted", 0),
        }
        self.phase += 1
        if self.phase < len(LIMIT_PHASES):
            yield from self.start_phase()

    def parse_state(self, response: Response, visit: int) -> Iterator[Any]:
        found = json.loads(response.css("#seen::text").get() or "{}")
        tab = response.meta["playwright_page_methods"][1].result
        yield {"visit": visit, **found, **tab}
        if visit < self.pages:
            yield self.state(visit + 1)

    # --- faults, run as page event handlers -------------------------------------------------

    async def crash_once(self, page: Page) -> None:
        """Crash the page's renderer process, the first time only (Chromium's Page.crash)."""
        if self._first_fault(page):
            session = await page.context.new_cdp_session(page)
            self._background(session.send("Page.crash"))  # never answers: the renderer is gone

    async def hang_once(self, page: Page) -> None:
        """Spin the page's main thread forever, the first time only."""
        if self._first_fault(page):
            self._background(page.evaluate("() => { for (;;) {} }"))

    def _first_fault(self, page: Page) -> bool:
        if page.url in self.faulted:
            return False
        self.faulted.add(page.url)
        return True

    def _background(self, awaitable: Any) -> None:
        future = asyncio.ensure_future(awaitable)
        self.background.add(future)
        future.add_done_callback(self._background_done)

    def _background_done(self, future: asyncio.Future[Any]) -> None:
        # It ends with the page it broke: an error here is the expected outcome.
        self.background.discard(future)
        if not future.cancelled():
            self.logger.info("fault call ended: %r", future.exception())
