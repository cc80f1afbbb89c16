"""A pooled page and the browser context it lives in: what the pool knows about each.

A :class:`PooledPage` routes its page's network requests (the current request's handler, the
blank reset document, nothing while idle) and notes what happens to the page (crash, pop-ups,
origins shown). See ``docs/pagepool.md``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, CDPSession, Page
from playwright.async_api import Error as PlaywrightError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from playwright.async_api import Frame, Route
    from playwright.async_api import Request as PlaywrightRequest

    RouteHandler = Callable[[Route, PlaywrightRequest], Awaitable[None]]

logger = logging.getLogger(__name__)

#: Where a page goes between requests: an empty document of the origin it was on,
#: served by the page's own route (never by the site), so that what the old
#: document's unload handlers wrote to the tab's sessionStorage can be cleared.
RESET_PATH = "/__looqta_pagepool_blank__"
RESET_DOCUMENT = "<!doctype html><title></title>"

#: sessionStorage and window.name belong to the tab, not to the document or the context.
FORGET_TAB_STATE_JS = """() => {
  try { window.sessionStorage.clear(); } catch (e) { /* opaque or sandboxed origin: no storage */ }
  if (window === window.top) { window.name = ""; }
}"""

#: Armed on a page between requests (light reset), run at the start of every document until
#: the next request's first document commits: what the old document wrote to the tab after
#: the reset (its timers while the page was idle, its unload handlers while the next request
#: navigated it away) is gone before the new document's own scripts run, as in a new tab.
NEW_TAB_STATE_JS = f"({FORGET_TAB_STATE_JS})();"


def web_origin(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL; ``None`` for about:, data:, chrome-error:..."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2].lower()}"


class InitScript(Protocol):
    """What ``Page.add_init_script`` returns (Playwright >= 1.5x): closing it removes the script."""

    async def close(self) -> None: ...


@dataclass(eq=False)
class PoolContext:
    """A browser context the pool opens pages in."""

    name: str
    context: BrowserContext
    isolated: bool
    pages_opened: int = 0
    pages_open: int = 0
    retired: bool = False
    closed: bool = False
    #: Every page the pool opened here (a closed one may still be listed in ``context.pages``).
    pooled_pages: set[Page] = field(default_factory=set)

    def outside_pages(self) -> list[Page]:
        """Open pages of the context that are not the pool's (a spider's playwright_include_page)."""
        return [page for page in self.context.pages if page not in self.pooled_pages and not page.is_closed()]

    def on_close(self) -> None:
        self.closed = True


@dataclass(eq=False)
class PooledPage:
    """One pooled page, and what the pool knows about it."""

    entry: PoolContext
    page: Page
    cdp: CDPSession | None = None
    uses: int = 0
    #: Origins whose documents ran in the page since its last reset (isolated contexts).
    origins: set[str] = field(default_factory=set)
    popups: list[Page] = field(default_factory=list)
    crashed: bool = False
    #: The request changed page or context settings a reset does not undo.
    tainted: bool = False
    idle_since: float = 0.0
    #: The network handler of the request rendering now; ``None`` while idle.
    route_handler: RouteHandler | None = None
    reset_url: str | None = None
    #: The armed :data:`NEW_TAB_STATE_JS` (light reset), until the next request's document commits.
    armed_script: InitScript | None = None
    #: The page's disarming of that script, running (a task).
    disarming: asyncio.Future[None] | None = None

    @property
    def context_name(self) -> str:
        return self.entry.name

    @property
    def usable(self) -> bool:
        return not (self.crashed or self.entry.closed or self.page.is_closed())

    async def route(self, route: Route, request: PlaywrightRequest) -> None:
        """The page's only route: its blank reset document, the current request's handler, or nothing."""
        if request.url == self.reset_url:
            await route.fulfill(body=RESET_DOCUMENT, content_type="text/html")
        elif self.route_handler is not None:
            await self.route_handler(route, request)
        else:
            try:
                await route.abort()  # an idle page has no business on the network
            except PlaywrightError as exc:  # the page is closing; its requests die with it
                logger.debug("Could not abort %s from an idle page: %s", request.url, exc)

    def on_crash(self) -> None:
        self.crashed = True

    def on_popup(self, popup: Page) -> None:
        self.popups.append(popup)

    def on_navigated(self, frame: Frame) -> None:
        if self.entry.isolated:
            origin = web_origin(frame.url)
            if origin is not None:
                self.origins.add(origin)
        elif frame.parent_frame is None and self.route_handler is not None and self.armed_script:
            # the request's first document committed: its tab state is clean, its own is its own
            script, self.armed_script = self.armed_script, None
            self.disarming = asyncio.ensure_future(self._disarm(script))

    async def _disarm(self, script: InitScript) -> None:
        try:
            await script.close()
        except PlaywrightError as exc:  # the page closed meanwhile: the script went with it
            logger.debug("Could not disarm a pooled page's reset script: %r", exc)
