"""The files pipeline: settings, downloads and back-pressure (fake engine), the store's sink, and
real crawls of the sandbox: bad files, and a crawl killed mid-run whose file tasks resume on the
next crawl, the records of its gone items written by the workers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import psutil
import pytest
from crawling import PROJECT_ROOT, TEST_CRAWL_SETTINGS, crawl_env, run_crawl, setting_args
from recording_sink import RecordingSink, read_results
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest, NotConfigured
from scrapy.http import Response
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.test import get_crawler
from test_spider_amazon import expected_offers as amazon_offers

from looqta.files.config import FilesConfig, default_workers
from looqta.files.storage import KEY_RE
from looqta.items import ProductItem
from looqta.pipelines.files import FilesPipeline, file_download_limit
from looqta.records import FileResults
from looqta.sandbox import assets
from looqta.sandbox.catalogue import Catalogue
from looqta.settings import EXTENSIONS

if TYPE_CHECKING:
    from scrapy import Request

    from looqta.sandbox.client import SandboxProcess

PIPELINES = {
    "looqta.pipelines.validate.ValidationPipeline": 100,
    "looqta.pipelines.files.FilesPipeline": 300,
}
WAIT_SECONDS = 90.0
STAT_KEYS = (
    "pending",
    "done",
    "failed",
    "tasks/pending",
    "tasks/processing",
    "tasks/done",
    "tasks/failed",
    "workers/active",
    "workers/total",
    "latency/p50_seconds",
    "latency/p95_seconds",
)


# settings ---------------------------------------------------------------------------------------


def test_settings_are_read_once_with_defaults(tmp_path: Path) -> None:
    config = FilesConfig.from_settings(
        get_crawler(settings_dict={"LOOQTA_FILES_DIR": str(tmp_path)}).settings
    )
    assert (config.directory, config.max_workers, config.executor, config.max_attempts) == (
        tmp_path,
        default_workers(),
        "pool",
        3,
    )
    assert (config.max_in_flight, config.max_downloads) == (32, 4)
    assert (config.worker_nice, config.worker_sched_idle) == (10, True)  # Linux: SCHED_IDLE
    assert (config.task_cpu_seconds, config.task_timeout_seconds) == (60.0, 600.0)
    assert config.resolved_store_uri == str(tmp_path / "store")
    niced_only = FilesConfig.from_settings(
        get_crawler(settings_dict={"LOOQTA_FILES_WORKER_SCHED_IDLE": "False"}).settings
    )
    assert niced_only.worker_sched_idle is False
    named = FilesConfig.from_settings(
        get_crawler(
            settings_dict={"LOOQTA_FILES_DIR": "/q/%(name)s", "LOOQTA_FILES_MAX_WORKERS": 0}
        ).settings,
        "noon",
    )
    assert (named.directory, named.max_workers) == (Path("/q/noon"), default_workers())


def test_every_files_setting_is_read_with_its_name() -> None:
    settings = {
        "LOOQTA_FILES_DIR": "/q",
        "LOOQTA_FILES_STORE": "/s",
        "LOOQTA_FILES_EXECUTOR": "inline",
        "LOOQTA_FILES_MAX_WORKERS": "3",
        "LOOQTA_FILES_MIN_WORKERS": 2,
        "LOOQTA_FILES_START_METHOD": "spawn",
        "LOOQTA_FILES_WORKER_NICE": 5,
        "LOOQTA_FILES_WORKER_SCHED_IDLE": False,
        "LOOQTA_FILES_TASK_CPU_SECONDS": "7.5",
        "LOOQTA_FILES_TASK_TIMEOUT_SECONDS": 9,
        "LOOQTA_FILES_MAX_ATTEMPTS": 4,
        "LOOQTA_FILES_RETRY_BACKOFF_SECONDS": 0.5,
        "LOOQTA_FILES_MAX_IN_FLIGHT": 6,
        "LOOQTA_FILES_MAX_DOWNLOADS": 2,
        "LOOQTA_FILES_MAX_SIZE_BYTES": 1000,
        "LOOQTA_FILES_MAX_UNCOMPRESSED_BYTES": 2000,
        "LOOQTA_FILES_MAX_DOCX_XML_BYTES": 1500,
        "LOOQTA_FILES_MAX_IMAGE_PIXELS": 10_000,
        "LOOQTA_FILES_WORKER_MEMORY_BYTES": 300 * 1024 * 1024,
        "LOOQTA_FILES_WORKER_FILE_SIZE_BYTES": 4000,
        "LOOQTA_FILES_THUMBNAIL_PX": 64,
        "LOOQTA_FILES_DRAIN_TIMEOUT_SECONDS": 1.5,
        "LOOQTA_FILES_RUN_LEASE_SECONDS": 30,
    }
    config = FilesConfig.from_settings(get_crawler(settings_dict=settings).settings)
    assert config == FilesConfig(
        directory=Path("/q"),
        store_uri="/s",
        executor="inline",
        max_workers=3,
        min_workers=2,
        start_method="spawn",
        worker_nice=5,
        worker_sched_idle=False,
        task_cpu_seconds=7.5,
        task_timeout_seconds=9.0,
        max_attempts=4,
        retry_backoff_seconds=0.5,
        max_in_flight=6,
        max_downloads=2,
        max_size_bytes=1000,
        max_uncompressed_bytes=2000,
        max_docx_xml_bytes=1500,
        max_image_pixels=10_000,
        worker_memory_bytes=300 * 1024 * 1024,
        worker_file_size_bytes=4000,
        thumbnail_px=64,
        drain_timeout_seconds=1.5,
        run_lease_seconds=30.0,
    )


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"LOOQTA_FILES_MAX_WORKERS": 500}, "LOOQTA_FILES_MAX_WORKERS"),
        ({"LOOQTA_FILES_MAX_WORKERS": 2, "LOOQTA_FILES_MIN_WORKERS": 3}, "LOOQTA_FILES_MIN_WORKERS"),
        ({"LOOQTA_FILES_EXECUTOR": "threads"}, "LOOQTA_FILES_EXECUTOR"),
        ({"LOOQTA_FILES_STORE": "ftp://host/dir"}, "LOOQTA_FILES_STORE"),
        ({"LOOQTA_FILES_TASK_TIMEOUT_SECONDS": 0}, "LOOQTA_FILES_TASK_TIMEOUT_SECONDS"),
        ({"LOOQTA_FILES_TASK_CPU_SECONDS": -1}, "LOOQTA_FILES_TASK_CPU_SECONDS"),
        ({"LOOQTA_FILES_MAX_DOWNLOADS": 0}, "LOOQTA_FILES_MAX_DOWNLOADS"),
        ({"LOOQTA_FILES_WORKER_MEMORY_BYTES": 1000}, "LOOQTA_FILES_WORKER_MEMORY_BYTES"),
        ({"LOOQTA_FILES_WORKER_FILE_SIZE_BYTES": 1000}, "LOOQTA_FILES_WORKER_FILE_SIZE_BYTES"),
    ],
)
def test_contradictory_settings_fail_at_start_up(settings: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        FilesConfig.from_settings(get_crawler(settings_dict=settings).settings)


def test_the_pipeline_can_be_switched_off() -> None:
    async def build() -> None:
        FilesPipeline(get_crawler(settings_dict={"LOOQTA_FILES_ENABLED": False}))

    with pytest.raises(NotConfigured, match="LOOQTA_FILES_ENABLED"):
        asyncio.run(build())


# the pipeline with a fake engine ----------------------------------------------------------------


class FakeEngine:
    """``download_async`` answering from a table, counting downloads in flight."""

    def __init__(self, answers: dict[str, Any], delay_seconds: float = 0.0) -> None:
        self.answers = answers
        self.delay_seconds = delay_seconds
        self.requests: list[Request] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def download_async(self, request: Request) -> Response:
        self.requests.append(request)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.delay_seconds)  # let every other item start before this answer
            answer = self.answers[request.url]
            if isinstance(answer, Exception):
                raise answer
            status, content_type, body = answer
            return Response(request.url, status=status, headers={"Content-Type": content_type}, body=body)
        finally:
            self.in_flight -= 1


def pipeline_with(tmp_path: Path, engine: FakeEngine, **settings: Any) -> FilesPipeline:
    crawler = get_crawler(
        settings_dict={
            "LOOQTA_FILES_DIR": str(tmp_path / "files"),
            "LOOQTA_FILES_MAX_WORKERS": 2,
            "LOOQTA_FILES_WORKER_NICE": 0,
            "LOOQTA_FILES_DRAIN_TIMEOUT_SECONDS": 10,
            **settings,
        }
    )
    crawler.stats = MemoryStatsCollector(crawler)
    crawler.engine = engine  # type: ignore[assignment]
    return FilesPipeline(crawler)


def run_items(tmp_path: Path, engine: FakeEngine, items: list[ProductItem], **settings: Any) -> FilesPipeline:
    """Open a pipeline on ``engine``, process ``items`` at once, close it; the pipeline."""

    async def scenario() -> FilesPipeline:
        pipeline = pipeline_with(tmp_path, engine, **settings)
        await pipeline.open_spider()
        try:
            await asyncio.gather(*(pipeline.process_item(item) for item in items))
        finally:
            await pipeline.close_spider()
        return pipeline

    return asyncio.run(scenario())


def product(number: int, job: str = "manual", **urls: list[str]) -> ProductItem:
    return ProductItem(
        source="noon",
        source_id=f"N{number}",
        title=f"Phone {number}",
        price=Decimal("10.00"),
        currency="AED",
        url=f"http://h/p/{number}",
        job=job,
        **urls,
    )


def worker_pids() -> set[int]:
    found: set[int] = set()
    for child in psutil.Process().children():
        with contextlib.suppress(psutil.Error):
            if "multiprocessing.forkserver" in " ".join(child.cmdline()):
                found |= {p.pid for p in child.children() if p.status() != psutil.STATUS_ZOMBIE}
    return found


def test_items_carry_their_file_records_and_downloads_wait_past_the_high_water_mark(tmp_path: Path) -> None:
    answers: dict[str, Any] = {}
    items = []
    for n in range(8):
        answers[f"http://h/{n}.png"] = (200, "image/png", assets.image_bytes(f"N{n}", "png"))
        answers[f"http://h/{n}.pdf"] = (200, "application/pdf", assets.small_pdf_bytes())
        items.append(
            product(n, image_urls=[f"http://h/{n}.png"], file_urls=[f"http://h/{n}.pdf", f"http://h/{n}.pdf"])
        )
    engine = FakeEngine(answers)

    pipeline = run_items(tmp_path, engine, items, LOOQTA_FILES_MAX_IN_FLIGHT=3, DOWNLOAD_MAXSIZE=5_000_000)
    assert 1 <= engine.most_in_flight <= 3  # unbounded, all 16 downloads would start at once
    assert len(engine.requests) == 16  # the repeated PDF URL of an item is fetched once
    assert {r.meta["download_maxsize"] for r in engine.requests} == {5_000_000}
    for item in items:
        image, document = item.files
        assert (image["status"], document["status"]) == ("done", "done")
        assert image["mime_type"] == "image/png"
        assert KEY_RE.match(image["thumbnail"])
        assert document["text_excerpt"].startswith("Sandbox file")
        assert Path(document["stored"]["path"].removeprefix("file://")).is_file()
    stats = pipeline.stats.get_stats()
    assert all(f"looqta/files/{key}" in stats for key in STAT_KEYS)
    assert stats["looqta/files/done"] == 8 * 2  # files, as the run summary says: two per item
    assert stats["looqta/files/tasks/done"] == 8 * 6  # 3 tasks a file, no store write (no store)
    assert (stats["looqta/files/pending"], stats["looqta/files/failed"]) == (0, 0)
    assert stats["looqta/files/backpressure_waits"] > 0
    assert worker_pids() == set()  # the pool closed with the spider


@pytest.mark.parametrize(("total_concurrency", "inside"), [(None, 4), (6, 3), (1, 1)])
def test_file_requests_leave_the_downloader_room_for_pages(
    tmp_path: Path, total_concurrency: int | None, inside: int
) -> None:
    # 16 files may be in flight, but only LOOQTA_FILES_MAX_DOWNLOADS (4), and at most half the
    # downloader's total concurrency, may be inside the downloader at once.
    answers: dict[str, Any] = {}
    items = []
    for n in range(8):
        answers[f"http://h/{n}.png"] = (200, "image/png", assets.image_bytes(f"N{n}", "png"))
        answers[f"http://h/{n}.pdf"] = (200, "application/pdf", assets.small_pdf_bytes())
        items.append(product(n, image_urls=[f"http://h/{n}.png"], file_urls=[f"http://h/{n}.pdf"]))
    engine = FakeEngine(answers, delay_seconds=0.2)  # long enough for every item to be waiting
    if total_concurrency is not None:
        engine.downloader = SimpleNamespace(total_concurrency=total_concurrency)  # type: ignore[attr-defined]

    pipeline = run_items(tmp_path, engine, items, LOOQTA_FILES_MAX_IN_FLIGHT=16, LOOQTA_FILES_MAX_DOWNLOADS=4)
    assert engine.most_in_flight == inside
    assert pipeline.downloads.most_inside == inside
    assert len(engine.requests) == 16
    assert all(record["status"] == "done" for item in items for record in item.files)
    assert pipeline.stats.get_value("looqta/files/download_waits", 0) > 0


def test_the_file_download_limit_follows_the_downloader() -> None:
    assert file_download_limit(4, 0) == 4  # CONCURRENT_REQUESTS 0: no total limit
    assert file_download_limit(4, 16) == 4
    assert file_download_limit(4, 6) == 3  # half the downloader for files at most
    assert file_download_limit(4, 1) == 1  # files always progress, even at a throttle's minimum


def test_download_failures_end_the_file_failed_and_the_item_goes_on(tmp_path: Path) -> None:
    engine = FakeEngine(
        {
            "http://h/big.bin": DownloadCancelledError(),
            "http://h/gone.pdf": (404, "text/html", b"<html>no</html>"),
            "http://h/robots.pdf": IgnoreRequest("Forbidden by robots.txt"),
        }
    )
    item = product(1, file_urls=["http://h/big.bin", "http://h/gone.pdf", "http://h/robots.pdf"])

    async def scenario() -> FilesPipeline:
        pipeline = pipeline_with(tmp_path, engine, LOOQTA_FILES_MAX_SIZE_BYTES=1_000)
        await pipeline.open_spider()
        try:
            assert await pipeline.process_item(item) is item
        finally:
            await pipeline.close_spider()
        return pipeline

    started = time.monotonic()
    pipeline = asyncio.run(scenario())
    assert time.monotonic() - started < 10, "close_spider waited for the drain time-out"
    assert [(f["status"], f["reason"]) for f in item.files] == [
        (
            "failed",
            "download: too_large: larger than 1000 bytes (LOOQTA_FILES_MAX_SIZE_BYTES, DOWNLOAD_MAXSIZE)",
        ),
        ("failed", "download: http_status: HTTP 404"),
        ("failed", "download: ignored: Forbidden by robots.txt"),
    ]
    stats = pipeline.stats.get_stats()
    assert (stats["looqta/files/pending"], stats["looqta/files/done"], stats["looqta/files/failed"]) == (
        0,
        0,
        3,
    )
    assert stats["looqta/files/tasks/done"] == 0  # the item waits for its records: no store write
    assert stats["looqta/files/failed/too_large"] == 1
    assert stats["looqta/files/failed/http_status"] == 1
    assert stats["looqta/files/failed/ignored"] == 1


def test_the_stores_sink_gets_each_items_records_and_the_workers_its_worker_store(tmp_path: Path) -> None:
    engine = FakeEngine({"http://h/1.png": (200, "image/png", assets.image_bytes("N1", "png"))})
    item = product(1, image_urls=["http://h/1.png"], file_urls=["http://h/missing.pdf"])
    item.scraped_at = "2026-01-02T03:04:05.678+00:00"
    engine.answers["http://h/missing.pdf"] = (404, "text/html", b"no")
    results = tmp_path / "results.jsonl"

    async def scenario() -> tuple[RecordingSink, set[str]]:
        pipeline = pipeline_with(tmp_path, engine, LOOQTA_TEST_RESULTS_FILE=str(results))
        sink = RecordingSink.from_crawler(pipeline.crawler)
        await pipeline.open_spider()
        try:
            assert pipeline.service.options.worker_store == await sink.worker_store()
            assert await pipeline.process_item(item) is item
            types = {t.type for t in await pipeline.service.tasks()}
        finally:
            await pipeline.close_spider()
        return sink, types

    sink, types = asyncio.run(scenario())
    seen_at = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert [(r["status"], r["url"]) for r in item.files] == [
        ("done", "http://h/1.png"),
        ("failed", "http://h/missing.pdf"),
    ]
    assert sink.applied == [FileResults("noon", "N1", item.files, seen_at)]  # after the records are final
    assert "store_records" not in types  # the waiting item took the records: no worker writes them
    assert [line["by"] for line in read_results(results)] == ["sink"]


def test_manual_items_files_are_queued_ahead_of_bulk(tmp_path: Path) -> None:
    engine = FakeEngine({"http://h/b.png": (200, "image/png", assets.image_bytes("B", "png"))})
    engine.answers["http://h/m.png"] = engine.answers["http://h/b.png"]

    async def scenario() -> list[tuple[str, int]]:
        pipeline = pipeline_with(tmp_path, engine)
        await pipeline.open_spider()
        try:
            await pipeline.process_item(product(1, "bulk", image_urls=["http://h/b.png"]))
            await pipeline.process_item(product(2, "manual", image_urls=["http://h/m.png"]))
            return [
                (t.payload["url"], t.priority) for t in await pipeline.service.tasks() if t.type == "store"
            ]
        finally:
            await pipeline.close_spider()

    assert asyncio.run(scenario()) == [("http://h/b.png", 10), ("http://h/m.png", 20)]


# real crawls of the sandbox ---------------------------------------------------------------------

BAD_FILES_SPIDER = '''
from decimal import Decimal

import scrapy

from looqta.items import ProductItem


class BadFilesSpider(scrapy.Spider):
    """One item per ``field=path`` case of ``-a cases``, straight from start()."""

    name = "badfiles"

    def __init__(self, base_url, cases, **kwargs):
        super().__init__(**kwargs)
        self.base_url = base_url
        self.cases = [case.split("=", 1) for case in cases.split(",")]

    async def start(self):
        for number, (field, path) in enumerate(self.cases):
            yield ProductItem(
                source="sandbox", source_id=f"B{number}", title=path, price=Decimal("1.00"), currency="AED",
                url=f"{self.base_url}/p/{number}", job="manual", **{field: [self.base_url + path]},
            )
'''


def test_bad_files_from_the_sandbox_fail_with_a_reason_and_nothing_escapes_the_store(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    good = Catalogue("noon").products[0].source_id
    unsafe = "store: unsafe_name: the file name"
    mismatch = "store: type_mismatch:"
    cases = {
        "/files/bad/corrupt.pdf": "extract_text: corrupt_pdf: ",
        "/files/bad/encrypted.pdf": "extract_text: encrypted_pdf: the PDF is encrypted and needs a password",
        "/files/bad/bomb.docx": "store: zip_bomb: word/document.xml inflates to 205825 KiB of XML",
        "/files/bad/huge.bin?mb=8": "download: too_large: larger than 4000000 bytes",
        "/files/bad/wrong-type.pdf": f"{mismatch} served as application/pdf but the body is text/html",
        "/files/bad/html-as-image.jpg": f"{mismatch} expected an image, the body is text/html",
        "/files/bad/named/..%2F..%2Fescape.pdf": f"{unsafe} '../../escape.pdf' contains a path",
        "/files/bad/named/nul%00name.pdf": f"{unsafe} 'nul\\x00name.pdf' contains a NUL",
        f"/documents/{good}.docx": None,
        f"/images/{good}.png": None,
    }
    field = {path: "image_urls" if path.endswith((".png", ".jpg")) else "file_urls" for path in cases}
    spider = tmp_path / "badfiles.py"
    spider.write_text(BAD_FILES_SPIDER)
    files_dir = tmp_path / "files"
    result = run_crawl(
        str(spider),
        tmp_path,
        runspider=True,
        spider_args={
            "base_url": clean_sandbox.url("noon"),
            "cases": ",".join(f"{field[path]}={path}" for path in cases),
        },
        settings={
            "ITEM_PIPELINES": PIPELINES,
            "LOOQTA_FILES_DIR": str(files_dir),
            "DOWNLOAD_MAXSIZE": 4_000_000,
        },
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stats["finish_reason"] == "finished"
    records = {item["title"]: item["files"][0] for item in result.items}
    assert set(records) == set(cases)
    for path, reason in cases.items():
        record = records[path]
        if reason is None:
            assert (record["status"], record["reason"]) == ("done", None), record
        else:
            assert record["status"] == "failed", record
            assert record["reason"].startswith(reason), record
    for code, count in {
        "corrupt_pdf": 1,
        "encrypted_pdf": 1,
        "zip_bomb": 1,
        "too_large": 1,
        "type_mismatch": 2,
        "unsafe_name": 2,
    }.items():
        assert result.stat(f"looqta/files/failed/{code}") == count, code
    assert result.stat("looqta/files/pending") == 0
    assert (result.stat("looqta/files/done"), result.stat("looqta/files/failed")) == (2, 8)  # files
    assert result.stat("looqta/files/tasks/done") > 2
    assert "files 2 done / 8 failed" in result.stderr  # the run summary

    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    outside = [p for p in written if not p.startswith("files/")]
    assert outside == ["badfiles.py", "items.json", "stats.json"]
    for path in written:
        if path.startswith(("files/objects/", "files/store/")):
            assert KEY_RE.match(path.split("/", 2)[2]), path
        else:
            assert re.fullmatch(
                r"files/queue\.sqlite3(-wal|-shm)?|badfiles\.py|items\.json|stats\.json", path
            )
    for place in (tmp_path, tmp_path.parent, PROJECT_ROOT, PROJECT_ROOT.parent):
        assert not (place / "escape.pdf").exists()


def task_states(files_dir: Path) -> dict[int, tuple[str, str]]:
    """``{task id: (type, status)}`` read through a separate connection, as any process could."""
    path = files_dir / "queue.sqlite3"
    if not path.exists():
        return {}
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as db:
            return {row[0]: (row[1], row[2]) for row in db.execute("SELECT id, type, status FROM tasks")}
    except sqlite3.OperationalError:  # the schema is not there yet
        return {}


def caught_mid_run(files_dir: Path) -> bool:
    """The worker is busy with a file task while another file still waits to be worked on."""
    states = list(task_states(files_dir).values())
    running = any(status == "processing" for _, status in states)
    return running and any(status == "pending" for _, status in states)


def batches_left(files_dir: Path) -> dict[str, int]:
    """``{item key: batch id}`` of the queue's batches, read by another connection."""
    with contextlib.closing(sqlite3.connect(f"file:{files_dir / 'queue.sqlite3'}?mode=ro", uri=True)) as db:
        return {key: batch for batch, key in db.execute("SELECT id, item_key FROM batches")}


def closed_by_recovery(files_dir: Path) -> int:
    """Batches that get their ``store_records`` at the next start: those whose only unfinished
    files were still downloading (they end ``failed``, interrupted), and those whose files all
    ended but whose item had not taken the records when the crawl died."""
    with contextlib.closing(sqlite3.connect(f"file:{files_dir / 'queue.sqlite3'}?mode=ro", uri=True)) as db:
        statuses: dict[int, set[str]] = {}
        for batch, status in db.execute("SELECT batch_id, status FROM files"):
            statuses.setdefault(batch, set()).add(status)
        unanswered = {batch for (batch,) in db.execute("SELECT id FROM batches WHERE answered_at IS NULL")}
    return sum(
        "processing" not in found and ("downloading" in found or batch in unanswered)
        for batch, found in statuses.items()
    )


def batch_records(files_dir: Path, batch_id: int) -> list[dict[str, Any]]:
    with contextlib.closing(sqlite3.connect(f"file:{files_dir / 'queue.sqlite3'}?mode=ro", uri=True)) as db:
        rows = db.execute("SELECT record FROM files WHERE batch_id = ? ORDER BY id", (batch_id,))
        return [json.loads(record) for (record,) in rows]


def crawl_command(out: Path, spider_args: dict[str, Any], settings: dict[str, Any]) -> list[str]:
    command = [sys.executable, "-m", "scrapy", "crawl", "amazon", "-O", str(out / "items.json")]
    command += [arg for name, value in spider_args.items() for arg in ("-a", f"{name}={value}")]
    return command + setting_args(
        {**TEST_CRAWL_SETTINGS, "LOOQTA_STATS_FILE": str(out / "stats.json"), **settings}
    )


def test_a_crawl_killed_mid_run_resumes_its_file_tasks_and_the_workers_write_its_items_records(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    files_dir = tmp_path / "files"
    results = tmp_path / "results.jsonl"
    settings = {
        "ITEM_PIPELINES": PIPELINES,
        "EXTENSIONS": {**EXTENSIONS, "recording_sink.RecordingSink": 0},  # the store's side, a stand-in
        "LOOQTA_TEST_RESULTS_FILE": str(results),
        "LOOQTA_FILES_DIR": str(files_dir),
        "LOOQTA_FILES_MAX_WORKERS": 1,
        "LOOQTA_FILES_MAX_DOWNLOADS": 1,
    }
    # amazon with details: each item has an image and a datasheet (its product page's documents).
    spider_args = {"q": "iphone", "max_pages": 1, "base_url": clean_sandbox.url("amazon"), "details": 1}
    env = {**crawl_env(), "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), str(Path(__file__).parent)])}

    first = tmp_path / "first"
    first.mkdir()
    # Slow datasheets, fetched one at a time, one worker: the crawl is caught with a file task
    # running and another waiting.
    clean_sandbox.set_faults("amazon-cdn", latency_ms=300, path_prefix="/documents/")
    with open(first / "log", "wb") as log:
        crawl = subprocess.Popen(
            crawl_command(first, spider_args, settings),
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while not caught_mid_run(files_dir):
            assert crawl.poll() is None, (first / "log").read_text()[-3000:]
            assert time.monotonic() < deadline, "the crawl never had file tasks queued"
            time.sleep(0.02)
    finally:
        os.killpg(crawl.pid, signal.SIGKILL)  # the crawl, its forkserver and its workers
        crawl.wait(30)
    assert crawl.returncode == -signal.SIGKILL

    left = {i: state for i, state in task_states(files_dir).items() if state[1] in ("pending", "processing")}
    assert left
    spooled = list((files_dir / "spool").iterdir())
    killed_items = batches_left(files_dir)  # items the killed crawl had, most still waiting for files
    closing = closed_by_recovery(files_dir)
    answered_before = {line["source_id"] for line in read_results(results)}  # items that got their records
    assert len(answered_before) < len(killed_items)

    # The next crawl searches for something else: the killed crawl's items get their records only
    # through the workers, once their resumed file tasks end.
    clean_sandbox.clear_faults()
    second = tmp_path / "second"
    second.mkdir()
    other_args = {**spider_args, "q": "samsung"}
    done = subprocess.run(
        crawl_command(second, other_args, settings),
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    items = json.loads((second / "items.json").read_text())
    stats = json.loads((second / "stats.json").read_text())

    after = task_states(files_dir)
    assert {i: after[i][1] for i in left} == dict.fromkeys(left, "done")
    assert stats["looqta/files/resumed"] == len(left) + closing
    assert all(f"looqta/files/{key}" in stats for key in STAT_KEYS)
    assert (stats["looqta/files/tasks/pending"], stats["looqta/files/tasks/processing"]) == (0, 0)
    assert not any(path.exists() for path in spooled)
    assert list((files_dir / "spool").iterdir()) == []

    lines = read_results(results)
    by_sink = {line["source_id"]: line for line in lines if line["by"] == "sink"}
    by_worker = {line["source_id"]: line for line in lines if line["by"] == "worker"}
    assert {item["source_id"] for item in items} == set(amazon_offers("samsung", 1))
    for item in items:  # the second crawl's own items: through the sink, after their files
        image, datasheet = item["files"]
        assert (image["status"], datasheet["status"]) == ("done", "done"), item["files"]
        assert (files_dir / "store" / image["thumbnail"]).is_file()
        assert f"Product id: {item['source_id']}" in datasheet["text_excerpt"]
        assert by_sink[item["source_id"]]["records"] == item["files"]
        assert by_sink[item["source_id"]]["seen_at"] == item["scraped_at"].replace("Z", "+00:00")
        assert item["source_id"] not in by_worker

    assert not {f"amazon:{item['source_id']}" for item in items} & set(killed_items)
    for key, batch_id in killed_items.items():  # each got its records one way or the other, once
        source_id = key.removeprefix("amazon:")
        if source_id in answered_before:
            assert source_id not in by_worker
            continue
        written = by_worker[source_id]
        assert written["records"] == batch_records(files_dir, batch_id), key
        assert written["seen_at"] is not None
        for record in written["records"]:
            assert record["status"] == "done" or record["reason"].startswith("interrupted: "), record
    assert stats["looqta/files/store_records/updated"] == len(killed_items) - len(answered_before)
    assert {line["pid"] for line in by_worker.values()} != {line["pid"] for line in by_sink.values()}


def test_an_item_gets_its_first_files_up_to_the_cap_and_refused_files_say_why(tmp_path: Path) -> None:
    from looqta.guard.middleware import RequestRefused

    answers: dict[str, Any] = {f"http://h/{n}.pdf": (404, "text/html", b"no") for n in range(5)}
    answers["file:///etc/passwd"] = RequestRefused("file:///etc/passwd", "scheme")
    engine = FakeEngine(answers)
    item = product(1, image_urls=["file:///etc/passwd"], file_urls=[f"http://h/{n}.pdf" for n in range(5)])

    pipeline = run_items(tmp_path, engine, [item], LOOQTA_FILES_MAX_PER_ITEM=3)
    assert {request.url for request in engine.requests} == {
        "file:///etc/passwd",
        "http://h/0.pdf",
        "http://h/1.pdf",
    }
    assert item.files[0] == {
        "url": "file:///etc/passwd",
        "status": "failed",
        "reason": "download: refused: origin guard refused file:///etc/passwd: scheme",
    }
    assert pipeline.stats.get_value("looqta/files/over_cap") == 3
    assert pipeline.stats.get_value("looqta/files/failed/refused") == 1

    async def build_with_no_room() -> None:
        pipeline_with(tmp_path, engine, LOOQTA_FILES_MAX_PER_ITEM=0)

    with pytest.raises(ValueError, match="LOOQTA_FILES_MAX_PER_ITEM"):
        asyncio.run(build_with_no_room())
