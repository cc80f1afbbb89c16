"""Download an item's images and files through Scrapy, process them in the file pool.

The only bridge between Scrapy and :mod:`looqta.files`:

* each URL of ``image_urls`` / ``file_urls`` is fetched with ``engine.download_async``: the
  downloader middlewares and the site's download slot (its cooldown) apply, and the request
  skips the scheduler, so an item's files go ahead of listing pages still waiting there;
* at most ``LOOQTA_FILES_MAX_IN_FLIGHT`` files are between "download started" and "record
  final" at once; past that, new downloads wait (back-pressure) instead of piling up bodies;
* at most ``LOOQTA_FILES_MAX_DOWNLOADS`` of them, and never more than half the downloader's
  total concurrency (which the resource throttle moves), are in Scrapy's downloader at once:
  the downloader counts requests queued in a slot against ``CONCURRENT_REQUESTS``, so without
  this bound file downloads waiting for a slow CDN slot would hold the engine from starting any
  page (:class:`DownloadRoom`);
* each body is spooled to disk and queued (:class:`~looqta.files.service.FileService`); the
  item waits, without blocking the event loop, for its files' records, then carries them in
  ``files`` into the feed and on to the store pipeline;
* the pool belongs to the crawler: started in ``open_spider``, drained and shut down in
  ``close_spider`` (and on ``engine_stopped`` should the spider never close cleanly);
* when the store pipeline is enabled, each batch carries the item's product document and the
  item's ``db_update`` writes the file records into the store
  (:mod:`looqta.store.files_update`): results that finish after their item left the crawl
  (tasks resumed after a crash) reach the database too.

The throttle moves the pool's size and gates its tasks through the
:class:`~looqta.throttle.file_workers.FileWorkers` control registered here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter
from scrapy import Request, signals
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest, NotConfigured
from scrapy.http.request import NO_CALLBACK
from scrapy.utils.asyncio import create_looping_call, is_asyncio_available
from scrapy.utils.misc import load_object

from looqta.files.checks import declared_name
from looqta.files.config import SCHED_IDLE_AVAILABLE, FilesConfig, default_workers
from looqta.files.service import FileService
from looqta.pipelines.store import MongoPipeline
from looqta.store import files_update
from looqta.store.config import StoreConfig
from looqta.throttle.controls import register as register_control
from looqta.throttle.file_workers import FileWorkers

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.settings import BaseSettings

    from looqta.files.service import FilesSnapshot

logger = logging.getLogger(__name__)

DEFAULT_DIRECTORY = ".looqta/files"
STATS_PREFIX = "looqta/files"
STATS_INTERVAL_SECONDS = 1.0
#: Task priority of an item's files by the item's job kind (manual runs first).
JOB_PRIORITY: dict[str, int] = {"manual": 20, "bulk": 10}
#: Meta key marking the pipeline's own requests (for middlewares and logs).
FILE_REQUEST_META = "looqta_file"
#: ``LOOQTA_FILES_DB_UPDATE`` value that keeps the records in the queue database only.
NO_DB_UPDATE = "queue"


def store_pipeline_enabled(settings: BaseSettings) -> bool:
    """Whether this crawl stores items in MongoDB: the store pipeline is in ``ITEM_PIPELINES``
    and ``LOOQTA_STORE_ENABLED`` is on."""
    if not settings.getbool("LOOQTA_STORE_ENABLED", True):
        return False
    for path, order in settings.getwithbase("ITEM_PIPELINES").items():
        component = load_object(path) if isinstance(path, str) else path
        if order is not None and isinstance(component, type) and issubclass(component, MongoPipeline):
            return True
    return False


def db_updater_from_settings(settings: BaseSettings) -> str:
    """The dotted path of the ``DbUpdater``; empty: the records stay in the queue database.

    ``LOOQTA_FILES_DB_UPDATE`` unset or empty: the store's updater when the store pipeline is
    enabled; ``"queue"``: none; anything else: that path.
    """
    configured = str(settings.get("LOOQTA_FILES_DB_UPDATE") or "").strip()
    if configured == NO_DB_UPDATE:
        return ""
    if configured:
        return configured
    return files_update.UPDATER if store_pipeline_enabled(settings) else ""


def files_config_from_settings(settings: BaseSettings, spider_name: str = "") -> FilesConfig:
    """``LOOQTA_FILES_*`` read once; ValueError names every contradictory value.

    ``%(name)s`` in ``LOOQTA_FILES_DIR`` is the spider's name: crawls of different sites
    running at once keep separate queues (a queue resumes the tasks a dead run left).
    """
    max_workers = settings.get("LOOQTA_FILES_MAX_WORKERS")
    directory = str(settings.get("LOOQTA_FILES_DIR") or DEFAULT_DIRECTORY) % {"name": spider_name or "crawl"}
    return FilesConfig(
        directory=Path(directory),
        store_uri=str(settings.get("LOOQTA_FILES_STORE") or ""),
        executor=str(settings.get("LOOQTA_FILES_EXECUTOR") or "pool"),
        max_workers=int(max_workers) if max_workers not in (None, "", 0, "0") else default_workers(),
        min_workers=settings.getint("LOOQTA_FILES_MIN_WORKERS", 1),
        start_method=str(settings.get("LOOQTA_FILES_START_METHOD") or "forkserver"),
        worker_nice=settings.getint("LOOQTA_FILES_WORKER_NICE", 10),
        worker_sched_idle=settings.getbool("LOOQTA_FILES_WORKER_SCHED_IDLE", SCHED_IDLE_AVAILABLE),
        task_cpu_seconds=settings.getfloat("LOOQTA_FILES_TASK_CPU_SECONDS", 60.0),
        task_timeout_seconds=settings.getfloat("LOOQTA_FILES_TASK_TIMEOUT_SECONDS", 600.0),
        max_attempts=settings.getint("LOOQTA_FILES_MAX_ATTEMPTS", 3),
        retry_backoff_seconds=settings.getfloat("LOOQTA_FILES_RETRY_BACKOFF_SECONDS", 2.0),
        max_in_flight=settings.getint("LOOQTA_FILES_MAX_IN_FLIGHT", 32),
        max_downloads=settings.getint("LOOQTA_FILES_MAX_DOWNLOADS", 4),
        max_size_bytes=settings.getint("LOOQTA_FILES_MAX_SIZE_BYTES", 64 * 1024 * 1024),
        max_uncompressed_bytes=settings.getint("LOOQTA_FILES_MAX_UNCOMPRESSED_BYTES", 100 * 1024 * 1024),
        thumbnail_px=settings.getint("LOOQTA_FILES_THUMBNAIL_PX", 256),
        drain_timeout_seconds=settings.getfloat("LOOQTA_FILES_DRAIN_TIMEOUT_SECONDS", 60.0),
        db_update=db_updater_from_settings(settings),
        run_lease_seconds=settings.getfloat("LOOQTA_FILES_RUN_LEASE_SECONDS", 300.0),
    )


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
        self.config = files_config_from_settings(settings, crawler.spider.name if crawler.spider else "")
        self.crawler = crawler
        self.stats = crawler.stats
        download_max = settings.getint("DOWNLOAD_MAXSIZE")
        self.max_size_bytes = min(self.config.max_size_bytes, download_max or self.config.max_size_bytes)
        self.store_config = self._store_config(settings)
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

    def _store_config(self, settings: BaseSettings) -> StoreConfig | None:
        """The store the DB update writes to: only with an updater, and the store enabled."""
        if not self.config.db_update:
            return None
        store = StoreConfig.from_settings(settings)
        if store.enabled:
            return store
        if self.config.db_update == files_update.UPDATER:
            raise ValueError(
                f"LOOQTA_FILES_DB_UPDATE is {files_update.UPDATER!r} but LOOQTA_STORE_ENABLED is off"
            )
        return None

    def _download_limit(self) -> int:
        engine = self.crawler.engine
        downloader = getattr(engine, "downloader", None)
        total = getattr(downloader, "total_concurrency", 0) if downloader is not None else 0
        return file_download_limit(self.config.max_downloads, int(total))

    # lifecycle ---------------------------------------------------------------------------------

    async def open_spider(self) -> None:
        target = None
        if self.store_config is not None:
            target = await asyncio.to_thread(files_update.resolve_target, self.store_config)
        await self.service.start(db_target=target)
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
        priority = JOB_PRIORITY.get(str(adapter.get("job")), 0)
        item_key = f"{adapter.get('source')}:{adapter.get('source_id')}"
        carried = None
        if self.store_config is not None:  # the DB update writes the item should it never reach the store
            carried = files_update.carried_document(adapter, self.store_config)
        file_ids = await self.service.open_batch(item_key, wanted, priority, carried)
        records = await asyncio.gather(
            *(
                self._file(file_id, url, kind, priority)
                for file_id, (url, kind) in zip(file_ids, wanted, strict=True)
            )
        )
        adapter["files"] = list(records)
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
            "pending": snapshot.pending,
            "processing": snapshot.processing,
            "done": snapshot.done,
            "failed": snapshot.failed,
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
