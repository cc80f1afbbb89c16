"""The page pool's browser contexts, taken from scrapy-playwright's download handler.

Shared contexts are scrapy-playwright's own, so pooled and plain pages of a name share one
session; an isolated context serves one pooled page. A retired shared context hands its cookies
and storage to its successor. scrapy-playwright's private parts are reached through
:mod:`looqta.internals`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from looqta import internals

if TYPE_CHECKING:
    from collections.abc import Callable

    from playwright.async_api import BrowserContext, Page
    from scrapy import Spider
    from scrapy.crawler import Crawler
    from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler

logger = logging.getLogger(__name__)


class HandlerContexts:
    """The pool's :class:`~looqta.pagepool.pool.ContextSource`, over one scrapy-playwright handler."""

    def __init__(self, handler: ScrapyPlaywrightDownloadHandler, crawler: Crawler) -> None:
        self.handler = handler
        self.crawler = crawler
        # Context options per context name: PLAYWRIGHT_CONTEXTS, else the
        # playwright_context_kwargs of the first request naming it (as scrapy-playwright does).
        self.options: dict[str, dict[str, Any]] = {
            name: dict(kwargs or {}) for name, kwargs in internals.startup_context_kwargs(handler).items()
        }
        #: Cookies and storage of a retired shared context, for its successor.
        self._carried_state: dict[str, Any] = {}

    def options_for(self, name: str, request_kwargs: dict[str, Any] | None) -> dict[str, Any]:
        """The options of context ``name``, fixed by the first request naming it."""
        return self.options.setdefault(name, dict(request_kwargs or {}))

    async def shared_context(self, name: str) -> BrowserContext:
        """scrapy-playwright's context of that name: pooled and plain pages share its session."""
        async with internals.context_launch_lock(self.handler):
            wrapper = internals.context_wrappers(self.handler).get(name)
            if wrapper is None:
                kwargs = dict(self.options.get(name, {}))
                carried = self._carried_state.pop(name, None)
                if carried is not None:
                    kwargs["storage_state"] = carried
                wrapper = await internals.create_context(self.handler, name, kwargs, self.crawler.spider)
        return internals.browser_context(wrapper)

    async def isolated_context(self, name: str) -> BrowserContext:
        browser = await internals.launch_browser(self.handler)
        context = await browser.new_context(**self.options.get(name, {}))
        timeout_ms = internals.navigation_timeout_ms(self.handler)
        if timeout_ms is not None:
            context.set_default_navigation_timeout(timeout_ms)
        return context

    async def retire_shared_context(self, name: str, context: BrowserContext) -> None:
        wrappers = internals.context_wrappers(self.handler)
        wrapper = wrappers.get(name)
        if wrapper is None or internals.browser_context(wrapper) is not context:
            return  # already replaced (browser restart)
        state = await context.storage_state()
        if wrappers.get(name) is wrapper:
            self._carried_state[name] = state
            del wrappers[name]  # the next request of this name gets a new context
            logger.debug("Browser context %r retired after its pages quota", name)

    def close_callback(
        self, name: str, persistent: bool, remote: bool, spider: Spider | None
    ) -> Callable[[BrowserContext], None]:
        """scrapy-playwright forgets the context *named* ``name`` when one closes; a retired
        context closing must not make it forget the successor registered under that name."""
        forget = internals.forget_context_callback(self.handler, name, persistent, remote, spider)

        def closed(context: BrowserContext) -> None:
            current = internals.context_wrappers(self.handler).get(name)
            if current is None or internals.browser_context(current) is context:
                forget()
            else:
                internals.release_context_slot(self.handler)  # what forget() does besides forgetting

        return closed

    def page_opened(self, page: Page, name: str) -> None:
        """Attach scrapy-playwright's request stats (and debug loggers) to a new pooled page."""
        count_request, count_response = internals.page_stats_listeners(self.handler)
        page.on("request", count_request)
        page.on("response", count_response)
        if internals.playwright_logger().getEffectiveLevel() <= logging.DEBUG:
            log_request, log_response = internals.page_log_listeners(name, self.crawler.spider)
            page.on("request", log_request)
            page.on("response", log_response)
