"""The private parts of Scrapy and scrapy-playwright looqta uses, on the installed packages.

Fails when an upgrade moves one of them (see looqta/internals.py), or when a module other than
looqta/internals.py reaches one; run it before trusting a new Scrapy or scrapy-playwright.
"""

from __future__ import annotations

import ast
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
#: so in a process of its own), reads every internal through the adapter, then launches Chromium
#: and renders a loopback page with the handler's private rendering path, as the page pool does.
PROBE = """
import asyncio
import http.server
import logging
import threading

from scrapy.utils.reactor import install_reactor
install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
from scrapy import Request, Spider
from scrapy.core.downloader import Downloader, Slot
from scrapy.utils.test import get_crawler
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

# the page pool's accessors
assert internals.default_context_name() == "default"
assert internals.persistent_context_key() == "user_data_dir"
assert isinstance(internals.playwright_logger(), logging.Logger)
assert internals.uses_threaded_loop(handler) is False
assert internals.abort_request_rule(handler) is should_abort_request
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


asyncio.get_event_loop().run_until_complete(render())
server.shutdown()
print("ok")
"""

#: What only looqta/internals.py may contain: the ways it reaches private parts of Scrapy and
#: scrapy-playwright (attributes with a leading underscore, or absent from their docs).
PRIVATE_ACCESS = {
    "Scrapy's handlers by scheme": r"\._handlers\b",
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


def private_accesses(source: str) -> list[str]:
    return [
        f"{what}: {match.group(0)!r}"
        for what, pattern in PRIVATE_ACCESS.items()
        for match in re.finditer(pattern, source)
    ]


def scrapy_playwright_imports(source: str) -> list[str]:
    """Names imported from scrapy-playwright that are not in :data:`PUBLIC_SCRAPY_PLAYWRIGHT`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.startswith("scrapy_playwright")]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("scrapy_playwright"):
            allowed = PUBLIC_SCRAPY_PLAYWRIGHT.get(node.module or "", set())
            found += [f"{node.module}.{alias.name}" for alias in node.names if alias.name not in allowed]
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
        and (found := private_accesses(source := path.read_text()) + scrapy_playwright_imports(source))
    }
    assert reaching == {}
    assert private_accesses(ADAPTER.read_text())  # the patterns still find what the adapter does


def test_the_check_catches_a_private_access() -> None:
    source = (
        "from scrapy_playwright._utils import _make_request_logger\n"
        "from scrapy_playwright.handler import DEFAULT_CONTEXT_NAME, ScrapyPlaywrightDownloadHandler\n"
        "handler.context_semaphore.release()\n"
        "await self._download_request_with_page(request, page, spider)\n"
        "lock = internals.context_launch_lock(handler)\n"
    )
    assert len(private_accesses(source)) == 4
    assert scrapy_playwright_imports(source) == [
        "scrapy_playwright._utils._make_request_logger",
        "scrapy_playwright.handler.DEFAULT_CONTEXT_NAME",
    ]
