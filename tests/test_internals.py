"""The private parts of Scrapy and scrapy-playwright looqta uses, on the installed packages.

Fails when an upgrade moves one of them (see looqta/internals.py), or when a module other than
looqta/internals.py reaches one; run it before trusting a new Scrapy or scrapy-playwright.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest
import scrapy
import scrapy_playwright
from crawling import PROJECT_ROOT, crawl_env

from looqta import internals

PACKAGE = PROJECT_ROOT / "looqta"
ADAPTER = PACKAGE / "internals.py"

#: Builds a real downloader with real scrapy-playwright handlers (they need the asyncio reactor,
#: so in a process of its own), reads every internal through the adapter, holds a slot and
#: downloads through Scrapy's private download path, picks a slot with Scrapy's scheduler queue,
#: then launches Chromium and renders a loopback page with the handler's private rendering path,
#: as the page pool does.
PROBE = """
import asyncio
import http.server
import logging
import threading

from scrapy.utils.reactor import install_reactor
install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
from scrapy import Request, Spider
from scrapy.core.downloader import Downloader, Slot
from scrapy.pqueues import DownloaderAwarePriorityQueue
from scrapy.squeues import FifoMemoryQueue
from scrapy.utils.defer import maybe_deferred_to_future
from scrapy.utils.test import get_crawler
from twisted.internet.defer import Deferred
from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler
from looqta import internals
from looqta.browser import find_chromium, should_abort_request

plain = "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"
crawler = get_crawler(settings_dict={
    "DOWNLOAD_HANDLERS": {"http": plain, "https": plain},
    "PLAYWRIGHT_MAX_CONTEXTS": 1,
    "PLAYWRIGHT_ABORT_REQUEST": "looqta.browser.should_abort_request",
    "PLAYWRIGHT_LAUNCH_OPTIONS": {"headless": True, "executable_path": find_chromium(None)},
})
crawler.engine = type("Engine", (), {})()
crawler.engine.downloader = downloader = Downloader(crawler)
internals.set_total_concurrency(downloader, 3)
assert internals.total_concurrency(downloader) == 3
downloader.slots["site"] = slot = Slot(8, 0.0)
internals.set_slot_concurrency(internals.slots(downloader)["site"], 2)
assert slot.concurrency == 2
assert internals.in_flight(downloader) == 0
handlers = internals.playwright_handlers(crawler)
assert len(handlers) == 2, handlers  # one per URL scheme
assert all(isinstance(h, ScrapyPlaywrightDownloadHandler) for h in handlers)
handler = handlers[0]
assert internals.context_wrappers(handler) == {}
assert internals.context_launch_lock(handler) is not None
assert internals.max_pages_per_context(handler) >= 1
internals.check_wrapper_fields()
internals.check_overridden_hooks()
import looqta.downloader, looqta.pqueues  # each checks its overridden hook on import

# Scrapy's scheduler queue: the fewest active downloads first, then round-robin among equals
queue = DownloaderAwarePriorityQueue.from_crawler(crawler, FifoMemoryQueue, "")
assert internals.next_slot(queue, [(2, "a"), (0, "b"), (0, "c")], update_state=True) == "b"
assert internals.next_slot(queue, [(2, "a"), (0, "b"), (0, "c")], update_state=False) == "c"

# the page pool's accessors
assert internals.default_context_name() == "default"
assert internals.persistent_context_key() == "user_data_dir"
assert isinstance(internals.playwright_logger(), logging.Logger)
assert internals.uses_threaded_loop(handler) is False
assert internals.abort_request_rule(handler) is should_abort_request
internals.set_abort_request_rule(handler, any)
assert internals.abort_request_rule(handler) is any
internals.set_abort_request_rule(handler, should_abort_request)
assert internals.startup_context_kwargs(handler) == {}
assert internals.navigation_timeout_ms(handler) is None
options = {**internals.launch_options(handler), "args": ["--mute-audio"]}
internals.set_launch_options(handler, options)
assert internals.launch_options(handler) == options
assert all(callable(listener) for listener in internals.page_stats_listeners(handler))
assert all(callable(listener) for listener in internals.page_log_listeners("default", None))


class Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"<!doctype html><title>probe</title><p id=probe>rendered</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_address[1]}/probe"
spider = Spider("probe")


async def render():
    await internals.launch(handler)
    browser = await internals.launch_browser(handler)
    assert browser.is_connected()
    async with internals.context_launch_lock(handler):
        wrapper = await internals.create_context(handler, "default", {}, spider)
    assert internals.context_wrappers(handler)["default"] is wrapper
    page = await internals.browser_context(wrapper).new_page()
    request = Request(url, meta={"playwright": True, "playwright_context": "default",
                                 "playwright_include_page": True})
    await page.route("**", internals.request_handler(handler, request, "default", spider))
    await internals.run_page_init_callback(page, request, "default", spider)
    response = await internals.render_with_page(handler, request, page, spider)
    assert response.status == 200 and b'<p id="probe">rendered</p>' in response.body, response.body
    await page.close()
    semaphore = handler.context_semaphore
    assert semaphore.locked()  # the one context slot is taken
    internals.forget_context_callback(handler, "default", False, False, spider)()
    assert "default" not in internals.context_wrappers(handler) and not semaphore.locked()
    await semaphore.acquire()
    internals.release_context_slot(handler)
    assert not semaphore.locked()
    await internals.close_handler(handler)
    assert not browser.is_connected()


async def wait_until(condition, timeout=5.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def hold_and_download():
    crawler.spider = spider  # the download handlers expect an open spider
    request = Request("data:,held")
    key, slot = internals.download_slot(downloader, request)
    assert internals.slots(downloader)[key] is slot and not internals.is_held(slot)
    internals.hold_slot(downloader, slot, 60.0)
    internals.hold_slot(downloader, slot, 0.05)  # replaces the first hold
    assert internals.is_held(slot)
    await wait_until(lambda: not internals.is_held(slot))  # Scrapy's _latercall released it
    queue_dfd = Deferred()
    internals.start_download(downloader, slot, request, queue_dfd)
    response = await maybe_deferred_to_future(queue_dfd)
    assert response.body == b"held" and not slot.transferring


asyncio.get_event_loop().run_until_complete(hold_and_download())
asyncio.get_event_loop().run_until_complete(render())
server.shutdown()
print("ok")
"""

#: What only looqta/internals.py may contain: the ways it reaches private parts of Scrapy,
#: scrapy-playwright and Playwright (attributes with a leading underscore, or absent from their docs).
PRIVATE_ACCESS = {
    "Scrapy's handlers by scheme": r"\._handlers\b",
    "a private attribute of a Scrapy object": (
        r"\b(engine|crawler|downloader|scraper|scheduler|slot|slots|handlers|middleware|signals|stats"
        r"|queue|pqueues|throttle|spider)\._[a-z]\w*"
    ),
    "Scrapy's private methods": (
        r"\._(get_slot|latercall|wait_for_download|enqueue_request|next_slot|downloader_interface"
        r"|last_selected_slot|schedule_coro|slot_gc)\b"
    ),
    "Scrapy's slot hold": r"\.latercall\b",
    "private modules and names of Scrapy and Playwright": r"\b(scrapy|playwright)(\.[a-z]\w*)*\._[a-z]\w*",
    "scrapy-playwright's private modules": r"\bscrapy_playwright\._",
    "scrapy-playwright's context bookkeeping": (
        r"(?<!internals\.)\b(context_semaphore|context_wrappers|context_launch_lock|browser_launch_lock)\b"
    ),
    "scrapy-playwright's private methods": (
        r"\._(download_request_with_page|make_request_handler|create_browser_context|maybe_launch_browser"
        r"|increment_request_stats|increment_response_stats|maybe_execute_page_init_callback"
        r"|make_request_logger|make_response_logger)\b"
    ),
    "scrapy-playwright's own overridden hooks": (
        r"super\(\)\._(close|maybe_launch_in_thread|make_close_browser_context_callback)\b"
    ),
    "scrapy-playwright's parsed settings": (
        r"\.config\.(launch_options|startup_context_kwargs|use_threaded_loop|navigation_timeout_ms"
        r"|max_pages_per_context)\b"
    ),
    "scrapy-playwright's handler attributes": r"\.(abort_request|browser_provider)\b",
    "scrapy-playwright's undocumented names": (
        r"\b(DEFAULT_CONTEXT_NAME|PERSISTENT_CONTEXT_PATH_KEY|BrowserContextWrapper)\b"
    ),
}

#: What the rest of looqta may import from scrapy-playwright: its documented API.
PUBLIC_SCRAPY_PLAYWRIGHT = {
    "scrapy_playwright.handler": {"ScrapyPlaywrightDownloadHandler"},
    "scrapy_playwright.page": {"PageMethod"},
}
#: Packages whose private modules and names (a leading underscore) only the adapter imports.
PRIVATE_NAMES_OF = ("scrapy", "playwright")
#: Where looqta subclasses their classes (overridden private methods: internals.OVERRIDDEN_HOOKS).
THIRD_PARTY = ("scrapy", "scrapy_playwright", "playwright", "twisted")


def private_accesses(source: str) -> list[str]:
    return [
        f"{what}: {match.group(0)!r}"
        for what, pattern in PRIVATE_ACCESS.items()
        for match in re.finditer(pattern, source)
    ]


def _is_private(dotted: str) -> bool:
    return any(part.startswith("_") for part in dotted.split("."))


def private_imports(source: str) -> list[str]:
    """Names imported from scrapy-playwright that are not in :data:`PUBLIC_SCRAPY_PLAYWRIGHT`, and
    private modules or names imported from Scrapy or Playwright."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [
                alias.name
                for alias in node.names
                if alias.name.startswith("scrapy_playwright")
                or (alias.name.split(".")[0] in PRIVATE_NAMES_OF and _is_private(alias.name))
            ]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("scrapy_playwright"):
            allowed = PUBLIC_SCRAPY_PLAYWRIGHT.get(node.module or "", set())
            found += [f"{node.module}.{alias.name}" for alias in node.names if alias.name not in allowed]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in PRIVATE_NAMES_OF:
            names = [f"{node.module}.{alias.name}" for alias in node.names]
            found += [name for name in names if _is_private(name)]
    return found


def inherited_private_uses(module_name: str) -> list[str]:
    """Private methods a class of the module overrides or calls (``self._x``, ``super()._x``) that
    it inherits from a Scrapy, scrapy-playwright, Playwright or Twisted class and that
    :data:`looqta.internals.OVERRIDDEN_HOOKS` does not list for that class."""
    module = importlib.import_module(module_name)
    found = []
    for node in ast.walk(ast.parse(inspect.getsource(module))):
        cls = getattr(module, node.name, None) if isinstance(node, ast.ClassDef) else None
        if not isinstance(cls, type):
            continue
        names = {sub.attr for sub in ast.walk(node) if isinstance(sub, ast.Attribute)}
        names |= {sub.name for sub in node.body if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef))}
        for name in sorted(n for n in names if n.startswith("_") and not n.startswith("__")):
            base = next((b for b in cls.__mro__[1:] if name in vars(b)), None)
            third_party = base is not None and base.__module__.split(".")[0] in THIRD_PARTY
            if third_party and name not in internals.OVERRIDDEN_HOOKS.get(base, ()):
                found.append(f"{node.name}.{name} of {base.__module__}.{base.__name__}")
    return found


def test_the_pinned_versions_are_the_installed_ones() -> None:
    assert (scrapy.__version__, scrapy_playwright.__version__) == (
        internals.SCRAPY_VERSION,
        internals.SCRAPY_PLAYWRIGHT_VERSION,
    )
    requirements = (PROJECT_ROOT / "requirements.txt").read_text().splitlines()
    assert f"Scrapy=={internals.SCRAPY_VERSION}" in requirements
    assert f"scrapy-playwright=={internals.SCRAPY_PLAYWRIGHT_VERSION}" in requirements


def test_every_internal_is_where_the_adapter_reaches_for_it() -> None:
    probe = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=PROJECT_ROOT,
        env=crawl_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    assert probe.stdout.strip() == "ok"


def test_a_missing_internal_says_which_and_for_which_versions() -> None:
    with pytest.raises(internals.InternalsMissing, match=r"has no 'slots'.*written for Scrapy 2\.19\.0"):
        internals.slots(SimpleNamespace())  # type: ignore[arg-type]


def test_only_the_adapter_reaches_private_parts_of_scrapy_and_scrapy_playwright() -> None:
    reaching = {
        str(path.relative_to(PROJECT_ROOT)): found
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != ADAPTER
        and (found := private_accesses(source := path.read_text()) + private_imports(source))
    }
    assert reaching == {}
    assert private_accesses(ADAPTER.read_text())  # the patterns still find what the adapter does


def test_subclasses_override_and_call_only_the_private_methods_the_adapter_lists() -> None:
    modules = [
        ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts).removesuffix(".__init__")
        for path in sorted(PACKAGE.rglob("*.py"))
        if path != ADAPTER and re.search(r"^class \w+\(", path.read_text(), re.MULTILINE)
    ]
    assert {module: found for module in modules if (found := inherited_private_uses(module))} == {}
    assert inherited_private_uses("looqta.downloader") == []  # its _process_queue is listed
    internals.check_overridden_hooks()


def test_a_hook_that_is_gone_fails_loudly() -> None:
    class Renamed:
        pass

    hooks = {**internals.OVERRIDDEN_HOOKS, Renamed: ("_process_queue",)}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(internals, "OVERRIDDEN_HOOKS", hooks)
        with pytest.raises(internals.InternalsMissing, match="Renamed has no '_process_queue'"):
            internals.check_overridden_hooks(Renamed)


def test_the_check_catches_a_private_access() -> None:
    source = (
        "from scrapy_playwright._utils import _make_request_logger\n"
        "from scrapy_playwright.handler import DEFAULT_CONTEXT_NAME, ScrapyPlaywrightDownloadHandler\n"
        "from scrapy.utils.defer import _schedule_coro, deferred_from_coro\n"
        "import playwright._impl._errors\n"
        "handler.context_semaphore.release()\n"
        "await self._download_request_with_page(request, page, spider)\n"
        "lock = internals.context_launch_lock(handler)\n"
        "key, slot = self.crawler.engine.downloader._get_slot(request)\n"
        "slot.latercall.cancel()\n"
        'RETRY_EXCEPTIONS = ["playwright._impl._errors.TargetClosedError"]\n'
    )
    assert len(private_accesses(source)) == 9
    assert private_imports(source) == [
        "scrapy_playwright._utils._make_request_logger",
        "scrapy_playwright.handler.DEFAULT_CONTEXT_NAME",
        "scrapy.utils.defer._schedule_coro",
        "playwright._impl._errors",
    ]
