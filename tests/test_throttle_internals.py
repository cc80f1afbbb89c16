"""The private parts of Scrapy and scrapy-playwright the throttle drives, on the installed packages.

Fails when an upgrade moves one of them (see looqta/throttle/internals.py); run it before
trusting a new Scrapy or scrapy-playwright.
"""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import pytest
import scrapy
import scrapy_playwright
from crawling import PROJECT_ROOT, crawl_env

from looqta.throttle import internals

#: Builds a real downloader with a real scrapy-playwright handler (they need the asyncio
#: reactor, so in a process of its own) and reads every internal through the adapter.
PROBE = """
from scrapy.utils.reactor import install_reactor
install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
from scrapy.core.downloader import Downloader, Slot
from scrapy.utils.test import get_crawler
from scrapy_playwright.handler import ScrapyPlaywrightDownloadHandler
from looqta.throttle import internals

plain = "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"
crawler = get_crawler(settings_dict={"DOWNLOAD_HANDLERS": {"http": plain, "https": plain}})
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
print("ok")
"""


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
        timeout=60,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    assert probe.stdout.strip() == "ok"


def test_a_missing_internal_says_which_and_for_which_versions() -> None:
    with pytest.raises(internals.InternalsMissing, match=r"has no 'slots'.*written for Scrapy 2\.19\.0"):
        internals.slots(SimpleNamespace())  # type: ignore[arg-type]
