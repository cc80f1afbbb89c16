"""Download an item's images and documents through Scrapy and hand them to the file pool.

The only bridge between Scrapy and :mod:`looqta.files`. Files go through the downloader (the
site's slot and middlewares apply) with bounded room (:class:`DownloadRoom`); bodies are spooled
and queued; the item waits without blocking the loop for its records, carries them in ``files``
to the feed, and hands them to the store's sink (:mod:`looqta.records`), which sets them on the
product the store pipeline wrote first. docs/files.md has the bounds and why.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter
from scrapy import Request, signals
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest, NotConfigured
from scrapy.http.request import NO_CALLBACK
from scrapy.utils.asyncio import create_looping_call, is_asyncio_available

from looqta.files.checks import declared_name
from looqta.files.config import FilesConfig
from looqta.files.service import FileService
from looqta.files.work import parse_seen_at
from looqta.guard.middleware import RequestRefused
from looqta.records import FileResults, file_results_sink_wanted
from looqta.throttle.controls import register as register_control
from looqta.throttle.file_workers import FileWorkers

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.http import Response

    from looqta.files.service import FilesSnapshot
    from looqta.records import FileResultsSink

logger = logging.getLogger(__name__)

STATS_PREFIX = "looqta/files"
STATS_INTERVAL_SECONDS = 1.0
#: File-task priority of an item's files by the item's job kind (manual runs first).
FILE_TASK_PRIORITY_BY_JOB: dict[str, int] = {"manual": 20, "bulk": 10}
#: Meta key marking the pipeline's own requests (for middlewares and logs).
FILE_REQUEST_META = "looqta_file"


def _header(response: Response, name: str) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


def wanted_files(adapter: ItemAdapter) -> list[tuple[str, str]]:
    """``(url, kind)`` for each distinct URL of the item: images first, then documents."""
    seen: set[str] = set()
    wanted: list[tuple[str, str]] = []
    for field, kind in (("image_urls", "image"), ("file_urls", "document")):
        for url in adapter.get(field) or ():
            if url and url not in seen:
                seen.add(url)
                wanted.append((url, kind))
    return wanted


class DownloadRoom:
    """Room for file requests in Scrapy's downloader: at most ``limit()`` at once.

    ``limit`` is read at every admission, so a downloader whose concurrency the resource
    throttle lowers admits fewer files from then on; requests already in are not cancelled.
    """

    def __init__(self, limit: Callable[[], int]) -> None:
        self.limit = limit
        self.inside = 0
        self.most_inside = 0
        self._freed = asyncio.Event()

    @contextlib.asynccontextmanager
    async def admitted(self) -> AsyncIterator[bool]:
        """Wait for room, hold it for the block; yields whether the request had to wait."""
        waited = False
        while self.inside >= self.limit():
            waited = True
            self._freed.clear()
            await self._freed.wait()
        self.inside += 1
        self.most_inside = max(self.most_inside, self.inside)
        try:
            yield waited
        finally:
            self.inside -= 1
            self._freed.set()


def file_download_limit(max_downloads: int, total_concurrency: int) -> int:
    """File requests allowed in the downloader: ``max_downloads``, and at most half the
    downloader's total concurrency (0: unlimited), at least 1 so files always progress."""
    if total_concurrency <= 0:
        return max_downloads
    return max(1, min(max_downloads, total_concurrency // 2))


class FilesPipeline:
    def __init__(self, crawler: Crawler) -> None:
        settings = crawler.settings
        if not settings.getbool("LOOQTA_FILES_ENABLED", True):
            raise NotConfigured("LOOQTA_FILES_ENABLED is off")
        if not is_asyncio_available():
            raise NotConfigured("the files pipeline needs the asyncio reactor (TWISTED_REACTOR)")
        self.config = FilesConfig.from_settings(settings, crawler.spider.name if crawler.spider else "")
        self.max_per_item = settings.getint("LOOQTA_FILES_MAX_PER_ITEM", 20)
        if self.max_per_item < 1:
            raise ValueError(f"LOOQTA_FILES_MAX_PER_ITEM must be >= 1, got {self.max_per_item}")
        self.crawler = crawler
        self.stats = crawler.stats
        download_max = settings.getint("DOWNLOAD_MAXSIZE")
        self.max_size_bytes = min(self.config.max_size_bytes, download_max or self.config.max_size_bytes)
        self.sink: FileResultsSink | None = None
        self.service = FileService(self.config)
        self.downloads = DownloadRoom(self._download_limit)
        self.last_snapshot: FilesSnapshot | None = None
        workers = FileWorkers(self.service, self.config.max_workers, lambda: self.last_snapshot, self.stats)
        register_control(crawler, workers)
        self._stats_loop = create_looping_call(self._publish_soon)
        self._publishing: asyncio.Future[None] | None = None
        crawler.signals.connect(self._engine_stopped, signal=signals.engine_stopped)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def _download_limit(self) -> int:
        engine = self.crawler.engine
        downloader = getattr(engine, "downloader", None)
        total = getattr(downloader, "total_concurrency", 0) if downloader is not None else 0
        return file_download_limit(self.config.max_downloads, int(total))

    # lifecycle ---------------------------------------------------------------------------------

    async def open_spider(self) -> None:
        """Ask the store for its sink (nobody answers when it is off), then start the pool."""
        sinks: list[FileResultsSink] = []
        self.crawler.signals.send_catch_log(signal=file_results_sink_wanted, register=sinks.append)
        if len(sinks) > 1:
            raise RuntimeError(f"{len(sinks)} file results sinks registered; only one store may answer")
        self.sink = sinks[0] if sinks else None
        worker_store = None if self.sink is None else await self.sink.worker_store()
        await self.service.start(worker_store=worker_store)
        self._stats_loop.start(STATS_INTERVAL_SECONDS)

    async def close_spider(self) -> None:
        if not await self.service.drain(self.config.drain_timeout_seconds):
            logger.warning(
                "file queue not drained within %.0fs (LOOQTA_FILES_DRAIN_TIMEOUT_SECONDS); what is left "
                "stays in %s and resumes on the next crawl",
                self.config.drain_timeout_seconds,
                self.config.queue_path,
            )
        await self._publish()
        await self._shutdown()

    async def _engine_stopped(self) -> None:
        await self._shutdown()

    async def _shutdown(self) -> None:
        if self._stats_loop.running:
            self._stats_loop.stop()
        if self._publishing is not None:
            await self._publishing
        await self.service.close()

    # the resource extension's side -------------------------------------------------------------
    # The throttle sizes the pool and gates its tasks through the FileWorkers control that
    # __init__ registers (looqta.throttle.file_workers); nothing here is looked up by name.

    # items -------------------------------------------------------------------------------------

    async def process_item(self, item: Any) -> Any:
        adapter = ItemAdapter(item)
        wanted = wanted_files(adapter)
        if not wanted:
            return item
        if len(wanted) > self.max_per_item:  # a page listing thousands of files gets its first N
            self.stats.inc_value(f"{STATS_PREFIX}/over_cap", len(wanted) - self.max_per_item)
            wanted = wanted[: self.max_per_item]
        priority = FILE_TASK_PRIORITY_BY_JOB.get(str(adapter.get("job")), 0)
        source, source_id = str(adapter.get("source")), str(adapter.get("source_id"))
        seen_at = parse_seen_at(adapter.get("scraped_at"))
        # What a worker needs to write the records should this item be gone when they end.
        batch_item = {"seen_at": None if seen_at is None else seen_at.isoformat()}
        file_ids = await self.service.open_batch(f"{source}:{source_id}", wanted, priority, batch_item)
        records = await asyncio.gather(
            *(
                self._file(file_id, url, kind, priority)
                for file_id, (url, kind) in zip(file_ids, wanted, strict=True)
            )
        )
        adapter["files"] = list(records)
        if self.sink is not None:
            await self.sink.apply(FileResults(source, source_id, list(records), seen_at))
        await self.service.answered(file_ids[0])  # until now a dead crawl's records go by a worker
        return item

    async def _file(self, file_id: int, url: str, kind: str, priority: int) -> dict[str, Any]:
        async with self.service.in_flight():
            request = Request(
                url,
                callback=NO_CALLBACK,
                meta={FILE_REQUEST_META: kind, "download_maxsize": self.max_size_bytes},
            )
            try:
                async with self.downloads.admitted() as waited:
                    if waited:
                        self.stats.inc_value(f"{STATS_PREFIX}/download_waits")
                    response = await self.crawler.engine.download_async(request)
            except DownloadCancelledError:
                limit = (
                    f"larger than {self.max_size_bytes} bytes (LOOQTA_FILES_MAX_SIZE_BYTES, DOWNLOAD_MAXSIZE)"
                )
                return await self._download_failed(file_id, url, "too_large", limit)
            except RequestRefused as exc:
                return await self._download_failed(file_id, url, "refused", str(exc))
            except IgnoreRequest as exc:
                return await self._download_failed(file_id, url, "ignored", str(exc) or "IgnoreRequest")
            except Exception as exc:  # noqa: BLE001 - any download error is the file's recorded reason
                return await self._download_failed(
                    file_id, url, "download_error", f"{type(exc).__name__}: {exc}"
                )
            if response.status != 200:
                return await self._download_failed(file_id, url, "http_status", f"HTTP {response.status}")
            self.stats.inc_value(f"{STATS_PREFIX}/downloaded")
            self.stats.inc_value(f"{STATS_PREFIX}/downloaded_bytes", len(response.body))
            record = await self.service.add_body(
                file_id,
                url,
                kind,
                response.body,
                declared_type=_header(response, "Content-Type"),
                declared_name=declared_name(response.url, _header(response, "Content-Disposition")),
                priority=priority,
            )
            del response  # the body is on disk now; the item waits without holding it
            return await record

    async def _download_failed(self, file_id: int, url: str, code: str, detail: str) -> dict[str, Any]:
        logger.warning(
            "file %s not downloaded: %s: %s", url, code, detail, extra={"spider": self.crawler.spider}
        )
        return await self.service.fail_download(file_id, url, code, detail)

    # stats -------------------------------------------------------------------------------------

    def _publish_soon(self) -> None:
        if self._publishing is None or self._publishing.done():
            self._publishing = asyncio.ensure_future(self._publish())

    async def _publish(self) -> None:
        snapshot = await self.service.snapshot()
        self.last_snapshot = snapshot
        values: dict[str, Any] = {
            "pending": snapshot.files_pending,  # files, not tasks: what the run summary shows
            "done": snapshot.files_done,
            "failed": snapshot.files_failed,
            "tasks/pending": snapshot.pending,
            "tasks/processing": snapshot.processing,
            "tasks/done": snapshot.done,
            "tasks/failed": snapshot.failed,
            "workers/active": snapshot.workers_active,
            "workers/total": snapshot.workers_total,
        }
        if snapshot.latency_p50_seconds is not None:
            values["latency/p50_seconds"] = round(snapshot.latency_p50_seconds, 4)
        if snapshot.latency_p95_seconds is not None:
            values["latency/p95_seconds"] = round(snapshot.latency_p95_seconds, 4)
        for name, value in self.service.counters.items():
            values.setdefault(name, value)
        for name, value in values.items():
            self.stats.set_value(f"{STATS_PREFIX}/{name}", value)
