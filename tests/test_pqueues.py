"""Manual requests run ahead of a bulk sweep already under way, across download slots."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from crawling import run_crawl

if TYPE_CHECKING:
    from pathlib import Path

    from looqta.sandbox.client import SandboxProcess


SLOTS = 100  # a bulk sweep over many sites (download slots)
CONCURRENT_REQUESTS = 4


def requests_before_manual(sandbox: SandboxProcess, tmp_path: Path, queue: str) -> int:
    result = run_crawl(
        "tests/spiders/bulk_then_manual.py",
        tmp_path,
        runspider=True,
        spider_args={
            "amazon": sandbox.url("amazon"),
            "noon": sandbox.url("noon"),
            "bulk": 3000,
            "slots": SLOTS,
        },
        settings={
            "SCHEDULER_PRIORITY_QUEUE": queue,
            "CONCURRENT_REQUESTS": CONCURRENT_REQUESTS,
            "ROBOTSTXT_OBEY": False,
            "ITEM_PIPELINES": {},
            "AUTOTHROTTLE_ENABLED": False,
        },
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (scheduled,) = [i["manual_scheduled_at"] for i in result.items if "manual_scheduled_at" in i]
    assert [i["manual_status"] for i in result.items if "manual_status" in i] == [200]
    (manual,) = [r for r in sandbox.requests("noon") if "manual=1" in r["path_qs"]]
    between = [r for r in sandbox.requests("amazon") if scheduled < r["t"] < manual["t"]]
    return len(between)


def test_manual_request_is_fetched_within_the_next_few_requests(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    # Only requests already on their way to the downloader go first: those in flight, and those
    # popped while the callback's output reaches the scheduler (at most one more batch).
    before = requests_before_manual(clean_sandbox, tmp_path, "looqta.pqueues.JobAwarePriorityQueue")
    assert before <= 2 * CONCURRENT_REQUESTS


@pytest.mark.parametrize("queue", ["scrapy.pqueues.DownloaderAwarePriorityQueue"])
def test_scrapy_default_queue_lets_bulk_requests_of_other_slots_go_first(
    clean_sandbox: SandboxProcess, tmp_path: Path, queue: str
) -> None:
    # The contrast that makes the test above meaningful: per-slot priority is not enough.
    # Scrapy's queue cycles through the slots with as few active downloads, whatever the priority.
    assert requests_before_manual(clean_sandbox, tmp_path, queue) >= SLOTS // 10
