"""The throttle extension: one check at a time on fakes, then real crawls of the sandbox.

The crawls push the machine (an outside CPU hog, a reader that reports memory over the limit,
a browser context that gathers memory) and check that the target drops, every item still
arrives, and recycling keeps the browser's memory flat.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import psutil
import pytest
from crawling import PROJECT_ROOT, CrawlResult, crawl_env, run_crawl, setting_args
from scrapy import Request
from scrapy.core.downloader import Slot
from scrapy.exceptions import NotConfigured
from scrapy.http import Response
from scrapy.utils.project import get_project_settings
from scrapy.utils.test import get_crawler
from test_spider_noon import expected_offers as noon_offers
from twisted.internet.defer import succeed

from looqta.sandbox.catalogue import Catalogue
from looqta.sandbox.profile import SANDBOX_SETTINGS
from looqta.throttle.controls import throttle_control_available
from looqta.throttle.downloader import DownloadSlots
from looqta.throttle.extension import ThrottleExtension
from looqta.throttle.file_workers import FileWorkers
from looqta.throttle.sampler import SystemReading, TreeMemory

if TYPE_CHECKING:
    from pathlib import Path

    from looqta.sandbox.client import SandboxProcess

EXTENSION = "looqta.throttle.extension.ThrottleExtension"
#: The project's extensions plus this one, and checks fast enough for a short crawl.
THROTTLE_SETTINGS: dict[str, Any] = {
    "EXTENSIONS": {
        **get_project_settings().getdict("EXTENSIONS"),
        EXTENSION: 100,
        "tests.spiders.throttle_readers.DownloaderProbe": 900,
    },
    "LOOQTA_THROTTLE_ENABLED": True,
    "LOOQTA_THROTTLE_CHECK_INTERVAL_SECONDS": 0.25,
    "LOOQTA_THROTTLE_SETTLE_SECONDS": 0.75,
    "LOOQTA_THROTTLE_WINDOW_SECONDS": 3,
    "LOOQTA_THROTTLE_LOG_INTERVAL_SECONDS": 1,
}
IPHONE_FIRST_TWO_PAGES = sorted(noon_offers("iphone", 2))


# one check at a time, on fakes -----------------------------------------------------------------


class ScriptedReader:
    """A machine whose readings the test sets."""

    def __init__(self) -> None:
        self.memory_percent = 40.0

    def system(self) -> SystemReading:
        return SystemReading(cpu_percent=30.0, memory_percent=self.memory_percent, available_bytes=8 << 30)

    def tree_memory(self, pid: int) -> TreeMemory:
        return TreeMemory(rss_bytes=600 << 20, pss_bytes=400 << 20, processes=9)


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def throttle_on_fakes(
    clock: Clock, downloader: SimpleNamespace, pool: Any = None, *, file_workers: int = 2, **settings: Any
) -> ThrottleExtension:
    """A throttle reading :class:`ScriptedReader`, acting on a fake downloader (and a fake file
    ``pool``), each registered as the slot middleware and the files pipeline do."""
    crawler = get_crawler(
        settings_dict={"LOOQTA_THROTTLE_READER": "test_throttle_extension.ScriptedReader", **settings}
    )
    throttle = ThrottleExtension(crawler, clock=clock)
    crawler.engine = SimpleNamespace(downloader=downloader)  # type: ignore[assignment]
    send = crawler.signals.send_catch_log
    send(throttle_control_available, control=DownloadSlots(downloader))  # type: ignore[arg-type]
    if pool is not None:
        send(throttle_control_available, control=FileWorkers(pool, file_workers, lambda: None))
    return throttle


def started_with_checks_recorded(
    throttle: ThrottleExtension, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[float, Any]]:
    """``throttle`` as at its engine's start (t = 0); the checks it brings forward are recorded
    as ``(delay, function)`` instead of scheduled."""
    scheduled: list[tuple[float, Any]] = []

    def call_later(delay: float, function: Any) -> SimpleNamespace:
        scheduled.append((delay, function))
        return SimpleNamespace(cancel=lambda: None)

    monkeypatch.setattr("looqta.throttle.extension.call_later", call_later)
    throttle._loop = SimpleNamespace(running=True, stop=lambda: None)  # type: ignore[assignment]
    throttle.sampler.sample()
    return scheduled


def test_disabled_it_is_not_configured() -> None:
    with pytest.raises(NotConfigured):
        ThrottleExtension(get_crawler(settings_dict={"LOOQTA_THROTTLE_ENABLED": False}))


def test_memory_over_the_limit_drops_the_target_and_clear_readings_bring_it_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = Clock()
    downloader = SimpleNamespace(total_concurrency=16, slots={"noon": Slot(8, 0.0)}, active=set(range(8)))
    resized: list[int] = []
    pool = SimpleNamespace(resize=resized.append, running=0, limit_tasks=lambda n: None)
    throttle = throttle_on_fakes(
        clock,
        downloader,
        pool,
        LOOQTA_THROTTLE_MAX_CONCURRENCY=8,
        LOOQTA_THROTTLE_MAX_BROWSER_PAGES=4,
        LOOQTA_THROTTLE_MAX_FILE_WORKERS=2,
    )
    crawler = throttle.crawler
    throttle.sampler.in_thread = lambda function, *args: succeed(function(*args))
    reader = throttle.sampler.reader
    assert isinstance(reader, ScriptedReader)

    def tick(at: float) -> None:
        clock.now = at
        throttle._tick()
        throttle.sampler.refresh_tree()

    with caplog.at_level(logging.INFO, logger="looqta.throttle.extension"):
        for at in (1.0, 2.0, 3.0, 4.0):
            tick(at)
        assert (downloader.total_concurrency, downloader.slots["noon"].concurrency) == (8, 8)
        reader.memory_percent = 95.0
        tick(5.0)
        assert (downloader.total_concurrency, downloader.slots["noon"].concurrency) == (1, 1)
        reader.memory_percent = 40.0
        for at in (6.0, 7.0):
            tick(at)
        assert downloader.total_concurrency == 1  # the last 3 s still hold the overload
        tick(8.0)
        # Back up half way to the level the overload was judged at, then to it.
        assert (downloader.total_concurrency, downloader.slots["noon"].concurrency) == (7, 7)
        for at in (9.0, 10.0, 11.0):
            tick(at)
    assert (downloader.total_concurrency, downloader.slots["noon"].concurrency) == (8, 8)
    assert resized == [2, 1, 2]
    stats = crawler.stats.get_stats()  # type: ignore[union-attr]
    assert {key: value for key, value in stats.items() if key.startswith("looqta/throttle/")} == {
        "looqta/throttle/samples": 11,
        "looqta/throttle/level": 8,
        "looqta/throttle/level/min": 6,
        "looqta/throttle/level/max": 8,
        "looqta/throttle/concurrency": 8,
        "looqta/throttle/browser_pages": 4,
        "looqta/throttle/file_workers": 2,
        "looqta/throttle/file_tasks": 2,
        "looqta/throttle/scale_down": 1,
        "looqta/throttle/scale_up": 2,
        "looqta/throttle/pause": 1,
        "looqta/throttle/resume": 1,
        "looqta/throttle/paused_seconds": 3.0,
        "looqta/throttle/cpu_percent/max": 30,
        "looqta/throttle/loop_lag_ms/max": 0,
        "looqta/throttle/tree_memory_mib": 400,
        "looqta/throttle/tree_memory_mib/max": 400,
    }
    assert caplog.messages == [
        "Throttle down: memory 95% > 85% (25% of the time): level 8 -> 6 "
        "[concurrency 1, browser pages 1, file workers 1, file tasks at once 1]",
        "Throttle up: readings clear and 6 requests in flight: level 6 -> 7 (overloaded at 8 last) "
        "[concurrency 7, browser pages 4, file workers 2, file tasks at once 2]",
        "Throttle up: readings clear and 7 requests in flight: level 7 -> 8 (overloaded at 8 last) "
        "[concurrency 8, browser pages 4, file workers 2, file tasks at once 2]",
    ]


def test_a_refusal_brings_the_check_forward_and_the_level_drops_at_the_sites_first_answers(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Started at 32 against a site that takes 12: judged 0.2 s in, not at the first tick (1 s)
    nor once the level has settled (3 s)."""
    clock = Clock()
    downloader = SimpleNamespace(total_concurrency=32, slots={"site": Slot(32, 0.0)}, active=set(range(32)))
    throttle = throttle_on_fakes(
        clock,
        downloader,
        file_workers=1,
        LOOQTA_THROTTLE_MAX_CONCURRENCY=32,
        LOOQTA_THROTTLE_START_CONCURRENCY=32,
    )
    stats = throttle.stats
    assert stats is not None
    scheduled = started_with_checks_recorded(throttle, monkeypatch)
    request = Request("http://127.0.0.1/")

    def answers(total: int, refused: int, in_flight: int) -> None:
        stats.set_value("downloader/response_count", total)
        stats.set_value("downloader/response_status_count/429", refused)
        downloader.active = set(range(in_flight))

    throttle._response_downloaded(Response("http://127.0.0.1/", status=200), request, None)  # type: ignore[arg-type]
    assert scheduled == []  # an answer taken brings nothing forward
    answers(20, 20, 20)  # the refusals come back first
    for _ in range(2):
        throttle._response_downloaded(Response("http://127.0.0.1/", status=429), request, None)  # type: ignore[arg-type]
    assert [delay for delay, _ in scheduled] == [0.1]  # one check, however many refusals
    clock.now = 0.1
    scheduled.pop()[1]()
    assert downloader.total_concurrency == 32  # 20 answers: fewer than a level's worth
    # Checked again without another refusal: the 12 taken come back as 200s.
    assert [delay for delay, _ in scheduled] == [0.1]
    answers(32, 20, 20)
    clock.now = 0.2
    with caplog.at_level(logging.INFO, logger="looqta.throttle.extension"):
        scheduled.pop()[1]()
    assert (downloader.total_concurrency, downloader.slots["site"].concurrency) == (12, 12)
    assert scheduled == []  # the level changed: back to the regular ticks
    assert stats.get_value("looqta/throttle/refusal_checks") == 2
    assert caplog.messages == [
        "Throttle down: 20 of 32 responses 429/503 (50% of the time): level 32 -> 12 "
        "[concurrency 12, browser pages 6, file workers 1, file tasks at once 2]",
    ]


def test_checks_brought_forward_stop_a_check_interval_after_the_last_refusal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = Clock()
    downloader = SimpleNamespace(total_concurrency=16, slots={}, active=set())
    throttle = throttle_on_fakes(clock, downloader, file_workers=1)
    scheduled = started_with_checks_recorded(throttle, monkeypatch)
    # One refusal, never a level's worth of answers: checked every 0.1 s for a check interval.
    throttle._response_downloaded(
        Response("http://127.0.0.1/", status=429), Request("http://127.0.0.1/"), None
    )  # type: ignore[arg-type]
    checks = 0
    while scheduled:
        checks += 1
        clock.now = checks / 10
        scheduled.pop()[1]()
    assert checks == 10
    assert downloader.total_concurrency == 16


def test_a_check_that_raises_stops_the_throttle_and_lifts_the_file_gate(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limits: list[int | None] = []
    pool = SimpleNamespace(resize=lambda n: n, limit_tasks=limits.append, running=0)
    downloader = SimpleNamespace(total_concurrency=16, slots={}, active=set())
    throttle = throttle_on_fakes(Clock(), downloader, pool)
    crawler = throttle.crawler
    assert throttle.actor.files is not None
    throttle.actor.files.limit_tasks(0)  # the gate was shut when the check broke

    def broken() -> None:
        raise RuntimeError("reader exploded")

    throttle.sampler.sample = broken  # type: ignore[assignment,method-assign]
    with caplog.at_level(logging.ERROR, logger="looqta.throttle.extension"):
        throttle._check()
    assert limits == [0, None]
    assert crawler.stats.get_value("looqta/throttle/failed") == 1  # type: ignore[union-attr]
    assert caplog.messages == ["Throttle stopped: a check failed"]


# real crawls -----------------------------------------------------------------------------------


def crawl_with_reader(
    sandbox: SandboxProcess, tmp_path: Path, reader: str, *, max_pages: int, **settings: Any
) -> CrawlResult:
    """The noon "iphone" crawl with the throttle reading the machine through ``reader``
    (a class of ``tests/spiders/throttle_readers.py``)."""
    return run_crawl(
        "noon",
        tmp_path,
        spider_args={"q": "iphone", "max_pages": max_pages, "base_url": sandbox.url("noon")},
        settings={
            **THROTTLE_SETTINGS,
            "LOOQTA_THROTTLE_READER": f"tests.spiders.throttle_readers.{reader}",
            **settings,
        },
    )


def test_a_memory_reader_over_the_limit_holds_the_crawl_at_the_minimum_and_every_item_arrives(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    clean_sandbox.set_faults("noon", latency_ms=20)
    result = crawl_with_reader(clean_sandbox, tmp_path, "OverMemoryReader", max_pages=2)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(item["source_id"] for item in result.items) == IPHONE_FIRST_TWO_PAGES
    assert result.stat("looqta/throttle/pause") >= 1
    assert result.stat("looqta/throttle/scale_down") >= 1
    assert result.stat("looqta/throttle/level/min") < 16
    assert result.stat("looqta/throttle/concurrency") == 1  # still held at the minimum at the end
    # The limits reached Scrapy's downloader (through the control the slot middleware registers).
    assert result.stats["probe/downloader/total_concurrency/min"] == 1
    assert result.stats["probe/downloader/slot_concurrency/min"] == 1
    assert "memory 97% > 85%, free memory 200 MiB < 1024 MiB" in result.stderr


def test_niced_file_work_over_the_cpu_limit_is_held_and_the_crawl_is_not_cut(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    # The reader says 95 % busy, 50 points niced, for 6 s: the crawl's own 45 % is within the
    # limit, so its level stays; the file gate holds file tasks instead, and then lets them run.
    # Slow images keep file tasks arriving for a few seconds (result pages alone are read in ms).
    clean_sandbox.set_faults("noon-cdn", latency_ms=500)
    result = crawl_with_reader(
        clean_sandbox,
        tmp_path,
        "NicedHotReader",
        max_pages=1,
        ITEM_PIPELINES={
            "looqta.pipelines.validate.ValidationPipeline": 100,
            "looqta.pipelines.dedup.DedupPipeline": 150,
            "looqta.pipelines.files.FilesPipeline": 300,
        },
        LOOQTA_FILES_DIR=str(tmp_path / "files"),
        LOOQTA_FILES_MAX_WORKERS=2,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(result.items) == len(noon_offers("iphone", 1))
    records = [record for item in result.items for record in item["files"]]
    assert len(records) == len(result.items)  # each noon item's image (its pages link no documents)
    assert all(record["status"] == "done" for record in records), records
    # The gate shut while file tasks waited; they ran once the readings cleared (every file done).
    assert result.stat("looqta/throttle/file_tasks/close") >= 1
    assert result.stat("looqta/throttle/file_tasks/held_seconds") >= 1
    assert "Throttle down: CPU" not in result.stderr


def test_the_page_pool_handler_is_given_the_page_limit_and_recycles_its_contexts(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    pooled = "looqta.pagepool.handler.PooledPlaywrightDownloadHandler"
    result = run_crawl(
        "noon",
        tmp_path,
        spider_args={"q": "iphone", "max_pages": 2, "base_url": clean_sandbox.url("noon")},
        settings={
            **THROTTLE_SETTINGS,
            "DOWNLOAD_HANDLERS": {"http": pooled, "https": pooled},
            "LOOQTA_THROTTLE_READER": "tests.spiders.throttle_readers.OverMemoryReader",
            "LOOQTA_THROTTLE_RECYCLE_AFTER_PAGES": 1,
            "LOOQTA_RENDER_MODE": "browser",  # listing pages rendered: the page pool has work
        },
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(item["source_id"] for item in result.items) == IPHONE_FIRST_TWO_PAGES
    assert (
        "browser concurrency is applied to the page limit of PooledPlaywrightDownloadHandler" in result.stderr
    )
    assert result.stat("looqta/pagepool/page_limit") == 1  # paused at the minimum: one page
    assert result.stat("looqta/throttle/recycle") >= 1
    assert result.stat("looqta/pagepool/contexts_recycled") >= 1


HOG = (
    "import sys, time\nend = time.monotonic() + float(sys.argv[1])\nwhile time.monotonic() < end:\n    pass\n"
)
HOG_SECONDS = 15.0


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.mark.serial  # it loads every core for 15 s
def test_an_outside_cpu_hog_drops_the_target_and_the_crawl_still_finishes(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    # One busy loop per core, each ending itself after HOG_SECONDS whatever happens here.
    hogs = [
        subprocess.Popen([sys.executable, "-c", HOG, str(HOG_SECONDS)])
        for _ in range(psutil.cpu_count() or 1)
    ]
    try:
        psutil.cpu_percent(interval=None)
        wait_for(lambda: psutil.cpu_percent(interval=None) > 90, 5, "the hog to load every core")
        result = run_crawl(
            "noon",
            tmp_path,
            spider_args={"q": "iphone", "max_pages": 2, "base_url": clean_sandbox.url("noon")},
            settings=THROTTLE_SETTINGS,
            timeout=90,
        )
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(item["source_id"] for item in result.items) == IPHONE_FIRST_TWO_PAGES
    assert result.stat("looqta/throttle/cpu_percent/max") >= 90
    assert result.stat("looqta/throttle/scale_down") >= 1
    assert result.stat("looqta/throttle/level/min") < 16
    assert result.stats["probe/downloader/total_concurrency/min"] < 16
    assert "Throttle down: CPU" in result.stderr


def browser_rss_mib(crawl_pid: int) -> float:
    """RSS of the crawl's Chromium browser process (the one without ``--type=``), where a
    context's state lives; 0 before it starts. Cheap to read, unlike PSS."""
    for process in psutil.Process(crawl_pid).children(recursive=True):
        try:
            command = process.cmdline()
            if command and "chrom" in command[0] and not any(a.startswith("--type=") for a in command):
                return process.memory_info().rss / (1024 * 1024)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue  # exited between the listing and the reading
    return 0.0


PLAIN_HANDLER = "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"


def test_recycling_contexts_keeps_the_browser_memory_flat_and_loses_no_page(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    pages, leak_mib, every = 30, 16, 8
    feed = tmp_path / "items.json"
    settings = {
        **SANDBOX_SETTINGS,
        **THROTTLE_SETTINGS,
        "DOWNLOAD_SLOTS": {"amazon": {"concurrency": 2, "delay": 0.0, "jitter": 0.0}},
        # This test is about memory: CPU and loop lag may run as high as they like.
        "LOOQTA_THROTTLE_MAX_CPU_PERCENT": 100,
        "LOOQTA_THROTTLE_MAX_LOOP_LAG_MS": 60_000,
        "LOOQTA_THROTTLE_RECYCLE_AFTER_PAGES": every,
        "LOOQTA_STATS_FILE": str(tmp_path / "stats.json"),
        # Recycling on scrapy-playwright's own path; the page pool's recycling has its own tests.
        "DOWNLOAD_HANDLERS": {"http": PLAIN_HANDLER, "https": PLAIN_HANDLER},
        "ITEM_PIPELINES": {},
    }
    command = [
        sys.executable,
        "-m",
        "scrapy",
        "runspider",
        "tests/spiders/rendered_pages.py",
        "-a",
        f"amazon={clean_sandbox.url('amazon')}",
        "-a",
        f"pages={pages}",
        "-a",
        f"leak_mib={leak_mib}",
        "-O",
        str(feed),
        *setting_args(settings),
    ]
    log = tmp_path / "crawl.log"  # a file, not a pipe: a full pipe would stall the crawl
    readings: list[tuple[int, float]] = []  # (pages rendered so far, browser RSS in MiB)
    with log.open("w") as stderr:
        crawl = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=crawl_env(),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            deadline = time.monotonic() + 90
            while crawl.poll() is None and time.monotonic() < deadline:
                rendered = sum(1 for r in clean_sandbox.requests("amazon") if r["path_qs"].startswith("/dp/"))
                try:
                    readings.append((rendered, browser_rss_mib(crawl.pid)))
                except psutil.NoSuchProcess:
                    break
                time.sleep(0.5)
            crawl.wait(timeout=30)
        finally:
            if crawl.poll() is None:
                crawl.kill()
    assert crawl.returncode == 0, log.read_text()[-3000:]
    items = json.loads(feed.read_text())
    assert sorted(item["asin"] for item in items) == sorted(
        p.source_id for p in Catalogue("amazon").products[:pages]
    )
    stats = json.loads((tmp_path / "stats.json").read_text())
    assert stats["looqta/throttle/recycle"] >= pages // every - 1
    # The last recycle may still be draining when the crawl ends.
    assert stats["looqta/throttle/recycle/contexts_closed"] >= stats["looqta/throttle/recycle"] - 1
    # Without recycling the browser process gathers leak_mib per page: over twice as much at
    # the end as around page 10 (see docs/throttle.md). Recycled every 8 pages, the end looks
    # like the start.
    early = max(mib for rendered, mib in readings if 5 <= rendered <= pages // 3)
    late = max(mib for rendered, mib in readings if rendered >= 2 * pages // 3)
    assert late <= 1.2 * early, readings
