"""Which requests the pool takes, what a request may do to a pooled page, and when a page is done.

Pure functions and tables, no Playwright calls: the handler (:mod:`looqta.pagepool.handler`)
applies them. See ``docs/pagepool.md`` (Design, Images).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from playwright.async_api import TimeoutError as PlaywrightTimeoutError
from scrapy_playwright.page import PageMethod

from looqta.render.wait import wait_until_ready

if TYPE_CHECKING:
    from looqta.pagepool.page import PooledPage

#: A request whose page failed (crashed, closed, hung) is rendered this many more times.
PAGE_FAILURE_RETRIES = 1

#: ``meta`` key: ``False`` sends a rendered request down scrapy-playwright's own path.
POOL_META_KEY = "looqta_page_pool"

#: Playwright's own ``--blink-settings`` for headless Chromium: a second ``--blink-settings``
#: flag replaces the first, so ours repeats them.
PLAYWRIGHT_HEADLESS_BLINK_SETTINGS = (
    "primaryHoverType=2,availableHoverTypes=2,primaryPointerType=4,availablePointerTypes=4"
)

#: Page methods that change the page or its routing rather than its document: a
#: reset does not undo them, so a page used with one is closed afterwards.
PAGE_CONFIGURING_METHODS: frozenset[str] = frozenset(
    {
        "add_init_script",
        "add_locator_handler",
        "emulate_media",
        "expose_binding",
        "expose_function",
        "on",
        "once",
        "remove_listener",
        "remove_locator_handler",
        "route",
        "route_from_har",
        "route_web_socket",
        "set_default_navigation_timeout",
        "set_default_timeout",
        "set_extra_http_headers",
        "set_viewport_size",
        "unroute",
        "unroute_all",
    }
)


#: Callable page methods known to only read the document (looqta's own waits).
DOCUMENT_ONLY_CALLABLES: frozenset[object] = frozenset({wait_until_ready})


def changes_page_settings(page_methods: Any) -> bool:
    """Whether these ``playwright_page_methods`` may leave the page set up differently.

    A callable ``PageMethod`` gets the page (and through it the context) and
    may do anything, so it counts as changing them, unless it is one of
    :data:`DOCUMENT_ONLY_CALLABLES`.
    """
    methods = page_methods.values() if isinstance(page_methods, dict) else page_methods or ()
    return any(
        isinstance(method, PageMethod)
        and (
            (callable(method.method) and method.method not in DOCUMENT_ONLY_CALLABLES)
            or method.method in PAGE_CONFIGURING_METHODS
        )
        for method in methods
    )


def page_failure(pooled: PooledPage, error: BaseException) -> str | None:
    """Why the page cannot serve again (``crashed``, ``closed``, ``timeout``), or ``None``."""
    message = str(error).lower()
    if pooled.crashed or "page crashed" in message or "target crashed" in message:
        return "crashed"
    if not pooled.usable:
        return "closed"
    if isinstance(error, (TimeoutError, PlaywrightTimeoutError)):
        return "timeout"
    return None


def without_image_loading(launch_options: dict[str, Any]) -> dict[str, Any]:
    """Launch options with Blink's image loading off (unless ``--blink-settings`` is set already).

    Aborting images one by one in the page's route costs a round trip through
    the Playwright driver and Python for each (24 per sandbox listing, about a
    fifth of the CPU of a render); with image loading off they are never requested.
    """
    args = list(launch_options.get("args") or [])
    if any(arg.startswith("--blink-settings") for arg in args):
        return launch_options
    blink = "imagesEnabled=false"
    if launch_options.get("headless", True):
        blink += "," + PLAYWRIGHT_HEADLESS_BLINK_SETTINGS
    return {**launch_options, "args": [*args, f"--blink-settings={blink}"]}
