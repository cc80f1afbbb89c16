"""The file pool's configuration, validated once: contradictions fail at start-up, not mid-crawl."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from looqta.files.storage import store_from_uri
from looqta.records import WorkerStore

if TYPE_CHECKING:
    from collections.abc import Callable

    from scrapy.settings import BaseSettings

#: No machine this crawler runs on has a use for more worker processes than this.
WORKERS_HARD_LIMIT = 64
EXECUTORS: tuple[str, ...] = ("pool", "inline")
START_METHODS: tuple[str, ...] = ("forkserver", "spawn", "fork")
#: Linux's SCHED_IDLE policy exists here: file workers use it by default.
SCHED_IDLE_AVAILABLE = hasattr(os, "SCHED_IDLE")


def default_workers() -> int:
    return os.cpu_count() or 1


#: ``LOOQTA_FILES_DIR`` when unset: relative to the crawl's working directory.
DEFAULT_DIRECTORY = ".looqta/files"
#: Settings not named ``LOOQTA_FILES_<FIELD>``.
SETTING_NAMES: dict[str, str] = {"directory": "LOOQTA_FILES_DIR", "store_uri": "LOOQTA_FILES_STORE"}
_READERS: dict[str, Callable[[BaseSettings, str], Any]] = {
    "int": lambda settings, name: settings.getint(name),
    "float": lambda settings, name: settings.getfloat(name),
    "bool": lambda settings, name: settings.getbool(name),
    "str": lambda settings, name: str(settings.get(name)),
    "Path": lambda settings, name: str(settings.get(name)),
}

#: Most seconds between two renewals of a run's lease on its queue.
MAX_HEARTBEAT_INTERVAL_SECONDS = 30.0
_MIB = 1024 * 1024
#: What a DOCX's members may inflate to, in all (images included).
DEFAULT_MAX_UNCOMPRESSED_BYTES = 16 * _MIB
#: What one XML part of a DOCX may inflate to. python-docx parses ``word/document.xml`` whole
#: into an lxml tree and makes a Python object per paragraph: 16 MiB of dense XML took ~950 MiB
#: and 40 s of CPU, 2 MiB takes ~1/8 of that (docs/security.md, "The 65 KiB DOCX").
DEFAULT_MAX_DOCX_XML_BYTES = 2 * _MIB


@dataclass(frozen=True)
class WorkOptions:
    """What a worker function needs besides its task payload; plain, picklable values."""

    objects_dir: Path
    store_uri: str
    thumbnail_px: int = 256
    max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES
    max_docx_xml_bytes: int = DEFAULT_MAX_DOCX_XML_BYTES
    #: Pillow's ``Image.MAX_IMAGE_PIXELS`` in the worker: larger images are refused as bombs.
    max_image_pixels: int = 25_000_000
    excerpt_chars: int = 300
    #: Where and how ``store_records`` writes (the store's answer); None: the store is off.
    worker_store: WorkerStore | None = None


@dataclass(frozen=True)
class FilesConfig:
    """Everything the queue, the pool and the service need, in units named by the field."""

    directory: Path
    store_uri: str = ""
    executor: str = "pool"
    max_workers: int = field(default_factory=default_workers)
    min_workers: int = 1
    start_method: str = "forkserver"
    worker_nice: int = 10
    #: Workers run under SCHED_IDLE (Linux, the default there): any runnable crawl process
    #: preempts them at once.
    worker_sched_idle: bool = field(default_factory=lambda: SCHED_IDLE_AVAILABLE)
    #: CPU time one task may use in its worker (the worker's own timer; it stays up).
    task_cpu_seconds: float = 60.0
    #: Wall-clock time one task may run before its worker is stopped: the backstop for a task
    #: that hangs without using CPU. Long, so a worker that yields its CPU to the crawl (nice,
    #: SCHED_IDLE) on a busy machine is not stopped for waiting.
    task_timeout_seconds: float = 600.0
    max_attempts: int = 3
    retry_backoff_seconds: float = 2.0
    max_in_flight: int = 32
    #: File requests in Scrapy's downloader at once (also at most half its total concurrency).
    max_downloads: int = 4
    max_size_bytes: int = 64 * _MIB
    max_uncompressed_bytes: int = DEFAULT_MAX_UNCOMPRESSED_BYTES
    #: One XML part of a DOCX (``word/document.xml``...) inflating past this is refused.
    max_docx_xml_bytes: int = DEFAULT_MAX_DOCX_XML_BYTES
    #: Images over this many pixels are refused (a decompression bomb), before they are decoded.
    max_image_pixels: int = 25_000_000
    #: Address space of a worker (RLIMIT_AS; 0: no limit): a task past it fails with a reason,
    #: the worker serves on.
    worker_memory_bytes: int = 1024 * _MIB
    #: The largest file a worker may write (RLIMIT_FSIZE; 0: no limit).
    worker_file_size_bytes: int = 256 * _MIB
    thumbnail_px: int = 256
    drain_timeout_seconds: float = 60.0
    run_lease_seconds: float = 300.0

    def __post_init__(self) -> None:
        problems = []
        if self.executor not in EXECUTORS:
            problems.append(f"LOOQTA_FILES_EXECUTOR must be one of {EXECUTORS}, got {self.executor!r}")
        if self.start_method not in START_METHODS:
            problems.append(
                f"LOOQTA_FILES_START_METHOD must be one of {START_METHODS}, got {self.start_method!r}"
            )
        if not 1 <= self.max_workers <= WORKERS_HARD_LIMIT:
            problems.append(
                f"LOOQTA_FILES_MAX_WORKERS must be in 1..{WORKERS_HARD_LIMIT}, got {self.max_workers}"
            )
        if not 1 <= self.min_workers <= self.max_workers:
            problems.append(
                f"LOOQTA_FILES_MIN_WORKERS must be in 1..LOOQTA_FILES_MAX_WORKERS ({self.max_workers}), "
                f"got {self.min_workers}"
            )
        if not 0 <= self.worker_nice <= 19:
            problems.append(f"LOOQTA_FILES_WORKER_NICE must be in 0..19, got {self.worker_nice}")
        if self.worker_sched_idle and not hasattr(os, "SCHED_IDLE"):
            problems.append("LOOQTA_FILES_WORKER_SCHED_IDLE needs Linux's SCHED_IDLE; this system has none")
        if self.task_timeout_seconds <= 0:
            problems.append("LOOQTA_FILES_TASK_TIMEOUT_SECONDS must be > 0")
        if self.task_cpu_seconds <= 0:
            problems.append("LOOQTA_FILES_TASK_CPU_SECONDS must be > 0")
        if self.max_attempts < 1:
            problems.append("LOOQTA_FILES_MAX_ATTEMPTS must be >= 1")
        if self.retry_backoff_seconds < 0:
            problems.append("LOOQTA_FILES_RETRY_BACKOFF_SECONDS must be >= 0")
        if self.max_in_flight < 1:
            problems.append("LOOQTA_FILES_MAX_IN_FLIGHT must be >= 1")
        if self.max_downloads < 1:
            problems.append(f"LOOQTA_FILES_MAX_DOWNLOADS must be >= 1, got {self.max_downloads}")
        if self.max_size_bytes < 1:
            problems.append("LOOQTA_FILES_MAX_SIZE_BYTES must be >= 1")
        if self.max_uncompressed_bytes < 1:
            problems.append("LOOQTA_FILES_MAX_UNCOMPRESSED_BYTES must be >= 1")
        if self.max_docx_xml_bytes < 1:
            problems.append("LOOQTA_FILES_MAX_DOCX_XML_BYTES must be >= 1")
        if self.max_image_pixels < 1:
            problems.append("LOOQTA_FILES_MAX_IMAGE_PIXELS must be >= 1")
        if self.worker_memory_bytes and self.worker_memory_bytes < 256 * _MIB:
            problems.append(
                "LOOQTA_FILES_WORKER_MEMORY_BYTES must be 0 (no limit) or >= 256 MiB "
                f"(a worker's interpreter and parsers alone take ~150 MiB), got {self.worker_memory_bytes}"
            )
        if self.worker_file_size_bytes and self.worker_file_size_bytes < self.max_size_bytes:
            problems.append(
                "LOOQTA_FILES_WORKER_FILE_SIZE_BYTES must be 0 (no limit) or >= LOOQTA_FILES_MAX_SIZE_BYTES "
                f"({self.max_size_bytes}): workers write the files they store"
            )
        if not 16 <= self.thumbnail_px <= 2048:
            problems.append(f"LOOQTA_FILES_THUMBNAIL_PX must be in 16..2048, got {self.thumbnail_px}")
        if self.drain_timeout_seconds < 0:
            problems.append("LOOQTA_FILES_DRAIN_TIMEOUT_SECONDS must be >= 0")
        if self.run_lease_seconds <= 0:
            problems.append("LOOQTA_FILES_RUN_LEASE_SECONDS must be > 0")
        try:
            store_from_uri(self.resolved_store_uri)
        except ValueError as exc:
            problems.append(f"LOOQTA_FILES_STORE: {exc}")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def queue_path(self) -> Path:
        return self.directory / "queue.sqlite3"

    @property
    def spool_dir(self) -> Path:
        return self.directory / "spool"

    @property
    def objects_dir(self) -> Path:
        return self.directory / "objects"

    @property
    def resolved_store_uri(self) -> str:
        return self.store_uri or str(self.directory / "store")

    @property
    def heartbeat_interval_seconds(self) -> float:
        """How often a run renews its lease (and looks for dead runs to take over)."""
        return min(self.run_lease_seconds / 4, MAX_HEARTBEAT_INTERVAL_SECONDS)

    def work_options(self, worker_store: WorkerStore | None = None) -> WorkOptions:
        return WorkOptions(
            objects_dir=self.objects_dir,
            store_uri=self.resolved_store_uri,
            thumbnail_px=self.thumbnail_px,
            max_uncompressed_bytes=self.max_uncompressed_bytes,
            max_docx_xml_bytes=self.max_docx_xml_bytes,
            max_image_pixels=self.max_image_pixels,
            worker_store=worker_store,
        )

    @classmethod
    def from_settings(cls, settings: BaseSettings, spider_name: str = "") -> FilesConfig:
        """``LOOQTA_FILES_<FIELD>`` read once, each unset one left to the field's default here;
        ValueError names every contradictory value.

        ``%(name)s`` in ``LOOQTA_FILES_DIR`` is the spider's name: crawls of different sites
        running at once keep separate queues (a queue resumes the tasks a dead run left).
        """
        values: dict[str, Any] = {}
        for spec in fields(cls):
            name = SETTING_NAMES.get(spec.name, f"LOOQTA_FILES_{spec.name.upper()}")
            raw = settings.get(name)
            if raw is None or raw == "":
                continue
            read = _READERS.get(str(spec.type))
            if read is None:
                raise TypeError(f"FilesConfig.{spec.name}: no reader for type {spec.type}")
            values[spec.name] = read(settings, name)
        if values.get("max_workers") == 0:  # 0: the default, the CPU count
            del values["max_workers"]
        directory = str(values.pop("directory", DEFAULT_DIRECTORY))
        return cls(directory=Path(directory % {"name": spider_name or "crawl"}), **values)
