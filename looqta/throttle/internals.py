"""The private parts of Scrapy and scrapy-playwright the throttle drives: reached here and only here.

Written for the versions pinned in requirements.txt (:data:`SCRAPY_VERSION`,
:data:`SCRAPY_PLAYWRIGHT_VERSION`). A missing attribute raises :class:`InternalsMissing` naming
it; ``tests/test_throttle_internals.py`` checks every one against the installed packages.
"""

from __future__ import annotations

import logging
from dataclasses import fields
from typing import TYPE_CHECKING, Any

import scrapy
import scrapy_playwright
from scrapy_playwright.handler import BrowserContextWrapper, ScrapyPlaywrightDownloadHandler

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Mapping

    from playwright.async_api import BrowserContext
    from scrapy.core.downloader import Downloader, Slot
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)

SCRAPY_VERSION = "2.19.0"
SCRAPY_PLAYWRIGHT_VERSION = "0.0.48"
#: What a scrapy-playwright context wrapper must hold (its dataclass fields).
WRAPPER_FIELDS = frozenset({"context", "semaphore", "persistent"})


class InternalsMissing(RuntimeError):
    """A private attribute the throttle drives is gone: the package moved it."""


def _get(owner: Any, name: str) -> Any:
    try:
        return getattr(owner, name)
    except AttributeError:
        raise InternalsMissing(
            f"{type(owner).__name__} has no {name!r}: looqta.throttle.internals was written for "
            f"Scrapy {SCRAPY_VERSION} and scrapy-playwright {SCRAPY_PLAYWRIGHT_VERSION}, this is "
            f"Scrapy {scrapy.__version__} and scrapy-playwright {scrapy_playwright.__version__}"
        ) from None


def warn_on_other_versions() -> None:
    """Log once per crawl when the installed versions are not the ones this was written for."""
    installed = (scrapy.__version__, scrapy_playwright.__version__)
    if installed != (SCRAPY_VERSION, SCRAPY_PLAYWRIGHT_VERSION):
        logger.warning(
            "looqta's throttle drives internals of Scrapy %s and scrapy-playwright %s; this is Scrapy %s "
            "and scrapy-playwright %s: run tests/test_throttle_internals.py before trusting it",
            SCRAPY_VERSION,
            SCRAPY_PLAYWRIGHT_VERSION,
            *installed,
        )


# Scrapy's downloader ---------------------------------------------------------------------------


def downloader(crawler: Crawler) -> Downloader:
    return _get(_get(crawler, "engine"), "downloader")  # type: ignore[no-any-return]


def total_concurrency(downloader: Downloader) -> int:
    """The engine starts no new request while this many are in the downloader."""
    return int(_get(downloader, "total_concurrency"))


def set_total_concurrency(downloader: Downloader, concurrency: int) -> None:
    _get(downloader, "total_concurrency")
    downloader.total_concurrency = concurrency


def slots(downloader: Downloader) -> Mapping[str, Slot]:
    """The live download slots by key (an idle one is dropped and re-created with its own value)."""
    return _get(downloader, "slots")  # type: ignore[no-any-return]


def set_slot_concurrency(slot: Slot, concurrency: int) -> None:
    _get(slot, "concurrency")
    slot.concurrency = concurrency


def in_flight(downloader: Downloader) -> int:
    """Requests in the downloader now."""
    return len(_get(downloader, "active"))


def download_handlers(crawler: Crawler) -> list[Any]:
    """The instantiated download handlers, each once (Scrapy offers no public accessor)."""
    handlers: Mapping[str, Any] = _get(_get(downloader(crawler), "handlers"), "_handlers")
    return list({id(handler): handler for handler in handlers.values()}.values())


# scrapy-playwright -----------------------------------------------------------------------------


def playwright_handlers(crawler: Crawler) -> list[ScrapyPlaywrightDownloadHandler]:
    """The scrapy-playwright handlers among the crawl's download handlers (subclasses included)."""
    return [h for h in download_handlers(crawler) if isinstance(h, ScrapyPlaywrightDownloadHandler)]


def context_wrappers(handler: ScrapyPlaywrightDownloadHandler) -> dict[str, BrowserContextWrapper]:
    """The open browser contexts by name; scrapy-playwright drops a context's entry when it closes."""
    return _get(handler, "context_wrappers")  # type: ignore[no-any-return]


def context_launch_lock(handler: ScrapyPlaywrightDownloadHandler) -> asyncio.Lock:
    return _get(handler, "context_launch_lock")  # type: ignore[no-any-return]


def max_pages_per_context(handler: ScrapyPlaywrightDownloadHandler) -> int:
    return int(_get(_get(handler, "config"), "max_pages_per_context"))


def page_semaphore(wrapper: BrowserContextWrapper) -> asyncio.Semaphore:
    """The semaphore each page of the context holds while open."""
    return _get(wrapper, "semaphore")  # type: ignore[no-any-return]


def is_persistent(wrapper: BrowserContextWrapper) -> bool:
    return bool(_get(wrapper, "persistent"))


def browser_context(wrapper: BrowserContextWrapper) -> BrowserContext:
    return _get(wrapper, "context")  # type: ignore[no-any-return]


def check_wrapper_fields() -> None:
    """Raise :class:`InternalsMissing` when the context wrapper lost a field used here."""
    missing = WRAPPER_FIELDS - {field.name for field in fields(BrowserContextWrapper)}
    if missing:
        raise InternalsMissing(f"scrapy-playwright's BrowserContextWrapper has no {sorted(missing)}")
