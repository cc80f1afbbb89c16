"""The reset of a pooled page between two requests: it keeps only what its context keeps.

What each step clears and why the light reset is the default: ``docs/pagepool.md`` (Isolation).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from playwright.async_api import Error as PlaywrightError

from looqta.pagepool.page import FORGET_TAB_STATE_JS, NEW_TAB_STATE_JS, RESET_PATH, web_origin

if TYPE_CHECKING:
    from collections.abc import Callable

    from playwright.async_api import Frame

    from looqta.pagepool.config import PagePoolConfig
    from looqta.pagepool.page import PooledPage

logger = logging.getLogger(__name__)

#: Storage.clearDataForOrigin: every kind of origin storage Chromium keeps
#: (local storage, IndexedDB, Cache Storage, service workers, file systems, cookies...).
ALL_STORAGE_TYPES = "all"


class PageReset:
    """Resets pooled pages as ``config`` says; ``count`` bumps a pool stat by name."""

    def __init__(self, config: PagePoolConfig, count: Callable[[str], None]) -> None:
        self._config = config
        self._count = count

    async def in_time(self, pooled: PooledPage) -> bool:
        """Reset the page; ``False`` when that failed or took too long (the page must close)."""
        try:
            await asyncio.wait_for(self.reset(pooled), self._config.reset_timeout_seconds)
        except (PlaywrightError, TimeoutError) as exc:
            logger.warning("Could not reset a pooled page, closing it: %r", exc)
            return False
        return True

    async def reset(self, pooled: PooledPage) -> None:
        """Leave nothing of the last request that a new page of the same context would not have.

        Closes the request's pop-ups and clears the tab's state (light reset: now, and again at
        the next document's start), or navigates to a blank document first (blank reset, isolated
        contexts, which also lose their storage); collects garbage every Nth use. The steps and
        why: ``docs/pagepool.md`` (Isolation).
        """
        page = pooled.page
        popups, pooled.popups = pooled.popups, []
        for popup in popups:
            await popup.close()
        if pooled.disarming is not None:
            disarming, pooled.disarming = pooled.disarming, None
            await disarming
        if pooled.entry.isolated or self._config.blank_reset:
            await self._navigate_blank(pooled)
            if pooled.entry.isolated:
                await self._clear_context(pooled)
        else:
            await self._in_frames(page.frames, FORGET_TAB_STATE_JS)
            if pooled.armed_script is None:
                pooled.armed_script = await page.add_init_script(NEW_TAB_STATE_JS)
        if pooled.uses % self._config.gc_every_uses == 0:
            assert pooled.cdp is not None
            await pooled.cdp.send("HeapProfiler.collectGarbage")
            self._count("renderer_gcs")

    @staticmethod
    async def _in_frames(frames: list[Frame], script: str) -> None:
        for frame in frames:
            try:
                await frame.evaluate(script)
            except PlaywrightError as exc:  # the frame detached meanwhile: its document is gone
                logger.debug("Could not reset the document in frame %s: %s", frame.url, exc)

    async def _navigate_blank(self, pooled: PooledPage) -> None:
        page = pooled.page
        await self._in_frames(page.frames[1:], FORGET_TAB_STATE_JS)
        origin = web_origin(page.url)
        if origin is None:
            pooled.reset_url = None
            await page.goto("about:blank")
        else:
            pooled.reset_url = origin + RESET_PATH
            await page.goto(pooled.reset_url)
            await page.evaluate(FORGET_TAB_STATE_JS)

    async def _clear_context(self, pooled: PooledPage) -> None:
        assert pooled.cdp is not None
        await pooled.entry.context.clear_cookies()
        for origin in sorted(pooled.origins):
            await pooled.cdp.send(
                "Storage.clearDataForOrigin", {"origin": origin, "storageTypes": ALL_STORAGE_TYPES}
            )
        if self._config.clear_http_cache:
            await pooled.cdp.send("Network.clearBrowserCache")
        pooled.origins.clear()
