"""A browser that dies mid-crawl is restarted and its pages retried: no item lost."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import psutil
from crawling import PROJECT_ROOT, TEST_CRAWL_SETTINGS, crawl_env, setting_args
from test_spider_amazon import expected_offers

if TYPE_CHECKING:
    from pathlib import Path

    from looqta.sandbox.client import SandboxProcess


def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def chromium_processes(root: psutil.Process) -> list[psutil.Process]:
    return [p for p in root.children(recursive=True) if "chrom" in p.name().lower()]


def test_killed_browser_is_restarted_and_every_item_still_arrives(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    query = "iphone 15 pro max"
    expected = sorted(expected_offers(query, 1))
    clean_sandbox.set_faults("amazon", latency_ms=400, path_prefix="/dp/")  # keep pages in flight
    feed = tmp_path / "items.json"
    command = [
        sys.executable,
        "-m",
        "scrapy",
        "crawl",
        "amazon",
        "-a",
        f"q={query}",
        "-a",
        f"base_url={clean_sandbox.url('amazon')}",
        "-a",
        "details=1",
        "-O",
        str(feed),
        *setting_args(
            {
                **TEST_CRAWL_SETTINGS,
                "LOOQTA_STATS_FILE": str(tmp_path / "stats.json"),
                "LOOQTA_RENDER_MODE": "browser",  # every page rendered, so the browser is busy
            }
        ),
    ]
    crawl = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        env=crawl_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        root = psutil.Process(crawl.pid)

        def rendering() -> bool:
            pages = [r for r in clean_sandbox.requests("amazon") if r["path_qs"].startswith("/dp/")]
            return bool(pages) and bool(chromium_processes(root))

        wait_for(rendering, 60, "the first rendered product page")
        victims = chromium_processes(root)
        for process in victims:
            # A renderer or helper may go with its parent before its own kill: gone is what we want.
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        psutil.wait_procs(victims, timeout=10)
        _, stderr = crawl.communicate(timeout=120)
    finally:
        if crawl.poll() is None:
            crawl.kill()
    assert crawl.returncode == 0, stderr[-3000:]
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert sorted(item["source_id"] for item in json.loads(feed.read_text())) == expected
    assert stats["playwright/browser_count"] >= 2  # a second browser was launched
    assert "Browser disconnected" in stderr
