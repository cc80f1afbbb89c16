"""Each download slot's concurrency holds when requests burst into it (looqta.downloader).

A real crawl of the sandbox, whose amazon site answers 429 to a request while 4 others are
being answered: the crawl may have 16 requests in the downloader, its amazon slot 4 at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crawling import CrawlResult, run_crawl

if TYPE_CHECKING:
    from pathlib import Path

    from looqta.sandbox.client import SandboxProcess

PAGES = 40
SLOT_CONCURRENCY = 4


def crawl_over_a_slot(sandbox: SandboxProcess, tmp_path: Path, **settings: Any) -> CrawlResult:
    sandbox.set_faults(
        "amazon", latency_ms=100, max_in_flight=SLOT_CONCURRENCY, retry_after=1, path_prefix="/dp/"
    )
    result = run_crawl(
        "tests/spiders/product_pages.py",
        tmp_path,
        runspider=True,
        spider_args={"amazon": sandbox.url("amazon"), "pages": PAGES},
        settings={
            "LOOQTA_THROTTLE_ENABLED": False,
            "AUTOTHROTTLE_ENABLED": False,
            "CONCURRENT_REQUESTS": 16,
            "DOWNLOAD_SLOTS": {"amazon": {"concurrency": SLOT_CONCURRENCY, "delay": 0.0, "jitter": 0.0}},
            **settings,
        },
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_a_slot_never_has_more_requests_at_the_site_than_its_concurrency(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    result = crawl_over_a_slot(clean_sandbox, tmp_path)
    assert len(result.items) == PAGES
    assert result.stat("downloader/response_status_count/429") == 0
    assert clean_sandbox.faults("amazon")["rate_limited"] == 0


def test_scrapys_own_downloader_lets_a_burst_through(clean_sandbox: SandboxProcess, tmp_path: Path) -> None:
    """The workload above does catch the fault: with Scrapy's downloader (2.19) the site sees
    more than the slot's concurrency. If this fails after a Scrapy upgrade, Scrapy keeps the
    slot's concurrency itself and looqta.downloader can go."""
    result = crawl_over_a_slot(clean_sandbox, tmp_path, DOWNLOADER="scrapy.core.downloader.Downloader")
    assert result.stat("downloader/response_status_count/429") > 0
