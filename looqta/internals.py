"""The private parts of Scrapy, scrapy-playwright and Playwright looqta uses: here and only here.

The throttle drives the downloader and scrapy-playwright's contexts; the page pool renders with
scrapy-playwright's own code; the cool-downs hold download slots; looqta's downloader, scheduler
queue and page pool override private methods (:data:`OVERRIDDEN_HOOKS`). Written for the
versions pinned in requirements.txt (:data:`SCRAPY_VERSION`, :data:`SCRAPY_PLAYWRIGHT_VERSION`).
A missing attribute raises :class:`InternalsMissing` naming it; ``tests/test_internals.py`` checks
every one against the installed packages, and that no other module reaches them.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from dataclasses import fields
from types import ModuleType
from typing import TYPE_CHECKING, Any

import scrapy
import scrapy.utils.defer
import scrapy_playwright
import scrapy_playwright.handler
from scrapy.core.downloader import Downloader
from scrapy.pqueues import DownloaderAwarePriorityQueue
from scrapy.utils.asyncio import call_later
from scrapy_playwright.handler import BrowserContextWrapper, ScrapyPlaywrightDownloadHandler

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from playwright.async_api import Browser, BrowserContext, Page
    from scrapy import Request, Spider
    from scrapy.core.downloader import Slot
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from twisted.internet.defer import Deferred

logger = logging.getLogger(__name__)

SCRAPY_VERSION = "2.19.0"
SCRAPY_PLAYWRIGHT_VERSION = "0.0.48"
#: What a scrapy-playwright context wrapper must hold (its dataclass fields).
WRAPPER_FIELDS = frozenset({"context", "semaphore", "persistent"})


#: Private methods looqta's subclasses override, by the class that calls them by these names:
#: scrapy-playwright's handler (the page pool: ``_maybe_launch_in_thread`` when the engine starts,
#: ``_close`` on close, ``_make_close_browser_context_callback`` for each new context), Scrapy's
#: downloader (``_process_queue`` whenever a slot may send) and scheduler queue (``_next_slot`` to
#: pick the site whose request goes next).
OVERRIDDEN_HOOKS: dict[type, tuple[str, ...]] = {
    ScrapyPlaywrightDownloadHandler: (
        "_maybe_launch_in_thread",
        "_close",
        "_make_close_browser_context_callback",
    ),
    Downloader: ("_process_queue",),
    DownloaderAwarePriorityQueue: ("_next_slot",),
}


class InternalsMissing(RuntimeError):
    """A private attribute looqta uses is gone: the package moved it."""


def _get(owner: Any, name: str) -> Any:
    try:
        return getattr(owner, name)
    except AttributeError:
        owner_name = owner.__name__ if isinstance(owner, (type, ModuleType)) else type(owner).__name__
        raise InternalsMissing(
            f"{owner_name} has no {name!r}: looqta.internals was written for "
            f"Scrapy {SCRAPY_VERSION} and scrapy-playwright {SCRAPY_PLAYWRIGHT_VERSION}, this is "
            f"Scrapy {scrapy.__version__} and scrapy-playwright {scrapy_playwright.__version__}"
        ) from None


def warn_on_other_versions() -> None:
    """Log once per crawl when the installed versions are not the ones this was written for."""
    installed = (scrapy.__version__, scrapy_playwright.__version__)
    if installed != (SCRAPY_VERSION, SCRAPY_PLAYWRIGHT_VERSION):
        logger.warning(
            "looqta uses internals of Scrapy %s and scrapy-playwright %s; this is Scrapy %s "
            "and scrapy-playwright %s: run tests/test_internals.py before trusting it",
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


def download_slot(downloader: Downloader, request: Request) -> tuple[str, Slot]:
    """The request's slot key and slot (created with its ``DOWNLOAD_SLOTS`` settings if new)."""
    return _get(downloader, "_get_slot")(request)  # type: ignore[no-any-return]


def is_held(slot: Slot) -> bool:
    """Whether the slot waits out a delay or a cool-down: nothing leaves its queue meanwhile."""
    return _get(slot, "latercall") is not None


def hold_slot(downloader: Downloader, slot: Slot, seconds: float) -> None:
    """Hold the slot for ``seconds`` (replacing a hold it has), then have the downloader process
    its queue: what Scrapy's downloader does to wait out ``DOWNLOAD_DELAY``."""
    if (held := _get(slot, "latercall")) is not None:
        held.cancel()
    slot.latercall = call_later(seconds, _get(downloader, "_latercall"), slot)


def start_download(downloader: Downloader, slot: Slot, request: Request, queue_dfd: Deferred[Any]) -> None:
    """Start downloading a request taken from the slot's queue, as Scrapy's ``_process_queue`` does
    (``queue_dfd`` fires with its response or failure)."""
    schedule = _get(scrapy.utils.defer, "_schedule_coro")
    schedule(_get(downloader, "_wait_for_download")(slot, request, queue_dfd))


def next_slot(
    queue: DownloaderAwarePriorityQueue, stats: list[tuple[int, str]], *, update_state: bool
) -> str:
    """Scrapy's pick among ``(active downloads, slot)`` pairs: fewest active, round-robin among equals."""
    pick = _get(DownloaderAwarePriorityQueue, "_next_slot")
    return pick(queue, stats, update_state=update_state)  # type: ignore[no-any-return]


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


def check_overridden_hooks(*bases: type) -> None:
    """Raise :class:`InternalsMissing` when a method overridden for one of ``bases`` (all when
    none is given) is gone: the subclass's override would silently never be called."""
    for base in bases or tuple(OVERRIDDEN_HOOKS):
        for name in OVERRIDDEN_HOOKS[base]:
            if not callable(_get(base, name)):
                raise InternalsMissing(f"{base.__name__}.{name} is not a method")


# scrapy-playwright, for the page pool's handler (a subclass of its handler) -----------------


def default_context_name() -> str:
    """The context a request without ``playwright_context`` renders in."""
    return str(_get(scrapy_playwright.handler, "DEFAULT_CONTEXT_NAME"))


def persistent_context_key() -> str:
    """The ``playwright_context_kwargs`` key that makes a context persistent."""
    return str(_get(scrapy_playwright.handler, "PERSISTENT_CONTEXT_PATH_KEY"))


def playwright_logger() -> logging.Logger:
    return _get(scrapy_playwright.handler, "logger")  # type: ignore[no-any-return]


def uses_threaded_loop(handler: ScrapyPlaywrightDownloadHandler) -> bool:
    return bool(_get(_get(handler, "config"), "use_threaded_loop"))


def launch_options(handler: ScrapyPlaywrightDownloadHandler) -> dict[str, Any]:
    return _get(_get(handler, "config"), "launch_options")  # type: ignore[no-any-return]


def set_launch_options(handler: ScrapyPlaywrightDownloadHandler, options: dict[str, Any]) -> None:
    """Launch options for the browser the handler has not launched yet."""
    config = _get(handler, "config")
    _get(config, "launch_options")
    config.launch_options = options


def startup_context_kwargs(handler: ScrapyPlaywrightDownloadHandler) -> dict[str, Any]:
    """``PLAYWRIGHT_CONTEXTS`` as parsed: options by context name."""
    return _get(_get(handler, "config"), "startup_context_kwargs")  # type: ignore[no-any-return]


def navigation_timeout_ms(handler: ScrapyPlaywrightDownloadHandler) -> float | None:
    return _get(_get(handler, "config"), "navigation_timeout_ms")  # type: ignore[no-any-return]


def abort_request_rule(handler: ScrapyPlaywrightDownloadHandler) -> Callable[..., Any] | None:
    """The loaded ``PLAYWRIGHT_ABORT_REQUEST`` callable, if any."""
    return _get(handler, "abort_request")  # type: ignore[no-any-return]


def set_abort_request_rule(handler: ScrapyPlaywrightDownloadHandler, rule: Callable[..., Any]) -> None:
    """Replace the handler's ``PLAYWRIGHT_ABORT_REQUEST`` rule (pooled and unpooled pages use it)."""
    _get(handler, "abort_request")
    handler.abort_request = rule


async def launch(handler: ScrapyPlaywrightDownloadHandler) -> None:
    """Start the Playwright driver and the startup contexts (what the engine start would do)."""
    await _get(handler, "_launch")()


async def launch_browser(handler: ScrapyPlaywrightDownloadHandler) -> Browser:
    """The handler's browser, launched (or connected to) on first use."""
    await _get(handler, "_maybe_launch_browser")()
    return _get(handler, "browser")  # type: ignore[no-any-return]


async def create_context(
    handler: ScrapyPlaywrightDownloadHandler, name: str, context_kwargs: dict[str, Any], spider: Spider | None
) -> BrowserContextWrapper:
    """A new context registered under ``name``; the caller holds :func:`context_launch_lock`."""
    create = _get(handler, "_create_browser_context")
    return await create(name=name, context_kwargs=context_kwargs, spider=spider)  # type: ignore[no-any-return]


def forget_context_callback(
    handler: ScrapyPlaywrightDownloadHandler, name: str, persistent: bool, remote: bool, spider: Spider | None
) -> Callable[[], None]:
    """scrapy-playwright's own close callback for a context (forgets ``name``, frees its slot)."""
    make = _get(ScrapyPlaywrightDownloadHandler, "_make_close_browser_context_callback")
    return make(handler, name, persistent, remote, spider)  # type: ignore[no-any-return]


def release_context_slot(handler: ScrapyPlaywrightDownloadHandler) -> None:
    """Free a ``PLAYWRIGHT_MAX_CONTEXTS`` slot, as a closing context does (no-op without the limit)."""
    if hasattr(handler, "context_semaphore"):
        handler.context_semaphore.release()


async def close_handler(handler: ScrapyPlaywrightDownloadHandler) -> None:
    """scrapy-playwright's own closing: its contexts, its browser, its driver."""
    await _get(ScrapyPlaywrightDownloadHandler, "_close")(handler)


def request_handler(
    handler: ScrapyPlaywrightDownloadHandler, request: Request, context_name: str, spider: Spider
) -> Callable[..., Awaitable[None]]:
    """scrapy-playwright's route handler for ``request``: abort rules, Scrapy headers, method, body."""
    make = _get(handler, "_make_request_handler")
    return make(  # type: ignore[no-any-return]
        context_name=context_name,
        method=request.method,
        url=request.url,
        headers=request.headers,
        body=request.body,
        encoding=request.encoding,
        spider=spider,
        initial_request_done=asyncio.Event(),
    )


async def render_with_page(
    handler: ScrapyPlaywrightDownloadHandler, request: Request, page: Page, spider: Spider
) -> Response:
    """scrapy-playwright's rendering of ``request`` in ``page`` (goto, page methods, body, downloads)."""
    return await _get(handler, "_download_request_with_page")(request, page, spider)  # type: ignore[no-any-return]


def page_stats_listeners(
    handler: ScrapyPlaywrightDownloadHandler,
) -> tuple[Callable[..., None], Callable[..., None]]:
    """The request and response listeners that keep ``playwright/request_count``... up to date."""
    return _get(handler, "_increment_request_stats"), _get(handler, "_increment_response_stats")


def _private_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise InternalsMissing(f"no module {name}: {exc}") from None


#: Playwright's error for a call on a page, context or browser that closed (a subclass of the
#: public ``playwright.async_api.Error`` that no public module exports, in Playwright 1.65):
#: ``RETRY_EXCEPTIONS`` names it here, as ``looqta.internals.TargetClosedError``.
TargetClosedError: type[Exception] = _get(_private_module("playwright._impl._errors"), "TargetClosedError")


def _utils() -> ModuleType:
    return _private_module("scrapy_playwright._utils")


def page_log_listeners(
    context_name: str, spider: Spider | None
) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """scrapy-playwright's debug loggers of a page's requests and responses."""
    utils = _utils()
    return (
        _get(utils, "_make_request_logger")(context_name, spider),
        _get(utils, "_make_response_logger")(context_name, spider),
    )


async def run_page_init_callback(page: Page, request: Request, context_name: str, spider: Spider) -> None:
    """``playwright_page_init_callback``, run (and its errors logged) as scrapy-playwright does."""
    run = _get(_utils(), "_maybe_execute_page_init_callback")
    await run(page=page, request=request, context_name=context_name, spider=spider)
