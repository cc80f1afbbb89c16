"""A browser wait that never fails a page: wait for its content, else parse it anyway.

Scrapy-playwright's ``wait_for_selector`` page method raises when the element never comes, so a
site that drops one element would fail every rendered page (and retry it) until its timeout. A
page type's ``ready`` selector lists what shows its content (results *or* the "no results" note);
:func:`wait_until_ready` waits for it across the page's own reloads (a challenge reloads once),
returns whether it came, and lets the page be parsed either way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from playwright.async_api import TimeoutError as PlaywrightTimeoutError

if TYPE_CHECKING:
    from playwright.async_api import Page

#: ``PageMethod.result`` of the wait: whether the ready selector matched in time.
READY = True
MISSED = False


async def wait_until_ready(page: Page, selector: str, timeout_ms: float) -> bool:
    """Whether ``selector`` matched within ``timeout_ms``; never raises on a timeout."""
    try:
        await page.wait_for_selector(selector, state="attached", timeout=timeout_ms)
    except PlaywrightTimeoutError:
        return MISSED
    return READY
