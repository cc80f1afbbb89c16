"""The worker functions: plain functions on paths, run in the pool's processes.

Each takes the task's ``payload`` (a dict of plain values) and the run's :class:`WorkOptions`,
and returns a dict that the service records as the task's result; :mod:`looqta.files.tasks`
declares which function runs which task type. A bad body raises
:class:`~looqta.files.checks.FileRejected` (final); anything else that goes wrong propagates and
the service retries the task a bounded number of times.

Nothing here holds a whole file in memory except where a library insists (Pillow decodes the
image, pypdf parses the PDF); text is written out as it is extracted.
"""

from __future__ import annotations

import errno
import hashlib
import importlib
import logging
import os
import resource
import signal
import warnings
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from looqta.files.checks import (
    DOCX,
    PDF,
    SNIFF_BYTES,
    FileRejected,
    check_name,
    check_type,
    check_zip,
    docx_or_zip,
    sniff,
)
from looqta.files.storage import atomic_place, atomic_write_from, object_key, safe_path, store_from_uri
from looqta.records import FileResults, RecordsRefused

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import BinaryIO

    from looqta.files.config import WorkOptions

_CHUNK = 1024 * 1024
#: ``store_records``'s outcome when the crawl has no store: the records stay in the queue.
NO_STORE = "no_store"


def init_worker(nice: int, sched_idle: bool = False, memory_bytes: int = 0, file_size_bytes: int = 0) -> None:
    """Pool initializer: lower the worker's CPU priority under the crawl's, bound its memory and
    the files it writes, quiet parser logs.

    ``sched_idle``: the SCHED_IDLE policy (Linux), under which a crawl process that wakes up
    preempts the worker at once; the nice value stays, so the worker's time is still counted as
    niced CPU (``/proc/stat``), which the throttle reads apart. ``memory_bytes`` (RLIMIT_AS) and
    ``file_size_bytes`` (RLIMIT_FSIZE), 0 for none: a hostile file fails its task
    (:func:`within_limits`) instead of taking the machine's memory or disk.
    """
    if nice:
        os.nice(nice)
    if sched_idle:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    if file_size_bytes:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit raises EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_bytes, file_size_bytes))
    logging.getLogger("pypdf").setLevel(logging.ERROR)


class CpuTimeExceeded(FileRejected):
    """The task used more CPU time than it may (final: the same input would again)."""


def within_cpu(seconds: float, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` with at most ``seconds`` of this process's CPU time (user + system).

    An interval timer on the process's CPU clock (``ITIMER_PROF``) raises
    :class:`CpuTimeExceeded` in the task when it runs out; time spent waiting for the CPU (a
    niced or SCHED_IDLE worker on a busy machine) does not count. Call it on the main thread of
    a worker process: the timer and its signal belong to the process.
    """

    def out_of_time(signum: int, frame: object) -> None:
        raise CpuTimeExceeded("timeout", f"used more than {seconds:g}s of CPU")

    previous = signal.signal(signal.SIGPROF, out_of_time)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        return fn(*args)
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


class MemoryLimitExceeded(FileRejected):
    """The task needed more memory than a worker may have (final: the same input would again)."""


def within_limits(cpu_seconds: float | None, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a worker: within ``cpu_seconds`` of CPU (:func:`within_cpu`, None: no
    limit); past the worker's memory or file-size limit, a final :class:`FileRejected` that
    names it. The worker serves on: what the task held is freed as the error unwinds."""
    try:
        return fn(*args) if cpu_seconds is None else within_cpu(cpu_seconds, fn, *args)
    except MemoryError as exc:
        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        raise MemoryLimitExceeded("memory_limit", f"needed more than {_mib(limit)} of memory") from exc
    except OSError as exc:
        if exc.errno != errno.EFBIG:
            raise
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        raise FileRejected("file_size_limit", f"wrote a file larger than {_mib(limit)}") from exc


def _mib(limit: int) -> str:
    return "the limit" if limit == resource.RLIM_INFINITY else f"{limit / _CHUNK:.0f} MiB"


def ping() -> int:
    """The health check run on every worker at start: proves the process can run our code."""
    return os.getpid()


def sha256_file(path: Path) -> tuple[str, int]:
    """``(hex digest, size)`` of the file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def store(payload: dict[str, Any], options: WorkOptions) -> dict[str, Any]:
    """Check a spooled body, then place it at its content-addressed key (``ab/abcdef….ext``)."""
    spool = Path(payload["spool"])
    check_name(payload.get("declared_name") or "")
    with open(spool, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if not head:
        raise FileRejected("empty", "the body is empty")
    sniffed = sniff(head)
    if sniffed == "application/zip":
        sniffed = docx_or_zip(spool)
    mime, ext = check_type(payload["kind"], sniffed, payload.get("declared_type"))
    if mime == DOCX:
        check_zip(spool, options.max_uncompressed_bytes, options.max_docx_xml_bytes)
    checksum, size = sha256_file(spool)
    key = object_key(checksum, ext)
    atomic_place(spool, safe_path(options.objects_dir, key))
    return {"path": key, "checksum": checksum, "size": size, "mime_type": mime}


def thumbnail(payload: dict[str, Any], options: WorkOptions) -> dict[str, Any]:
    """A JPEG at most ``thumbnail_px`` on its longer side, at ``thumbs/ab/….jpg``."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    source = safe_path(options.objects_dir, payload["path"])
    key = object_key(payload["checksum"], "jpg", "thumbs")
    size = (options.thumbnail_px, options.thumbnail_px)
    Image.MAX_IMAGE_PIXELS = options.max_image_pixels  # over it: a warning, made an error below
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(source) as image:
                image.verify()
            with Image.open(source) as image:
                image.draft("RGB", size)
                small = ImageOps.exif_transpose(image)
                small.thumbnail(size)
                small = small.convert("RGB")
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise FileRejected("image_bomb", str(exc)) from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise FileRejected("corrupt_image", f"{type(exc).__name__}: {exc}") from exc
    dest = safe_path(options.objects_dir, key)
    if not dest.exists():
        atomic_write_from(dest, lambda handle: small.save(handle, format="JPEG", quality=85))
    return {"thumbnail": key, "thumbnail_size": list(small.size)}


def _pdf_text(path: Path) -> Iterator[str]:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError

    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except DependencyError as exc:
                raise FileRejected("encrypted_pdf", f"the PDF is encrypted ({exc})") from exc
            if not opened:
                raise FileRejected("encrypted_pdf", "the PDF is encrypted and needs a password")
        pages = reader.pages
        count = len(pages)
    except FileRejected:
        raise
    except Exception as exc:  # pypdf raises many types on hostile input; all mean "unreadable"
        raise FileRejected("corrupt_pdf", f"{type(exc).__name__}: {exc}") from exc
    if count == 0:
        raise FileRejected("corrupt_pdf", "the PDF has no pages")
    for number in range(count):
        try:
            text = pages[number].extract_text()
        except Exception as exc:
            raise FileRejected("corrupt_pdf", f"page {number + 1}: {type(exc).__name__}: {exc}") from exc
        yield text + "\n"


def _docx_text(path: Path, max_uncompressed_bytes: int, max_xml_bytes: int) -> Iterator[str]:
    check_zip(path, max_uncompressed_bytes, max_xml_bytes)
    from docx import Document

    try:
        document = Document(str(path))
        paragraphs = [paragraph.text for paragraph in document.paragraphs]
        cells = [cell.text for table in document.tables for row in table.rows for cell in row.cells]
    except Exception as exc:  # python-docx/lxml/zipfile errors on a broken package
        raise FileRejected("corrupt_docx", f"{type(exc).__name__}: {exc}") from exc
    for text in (*paragraphs, *cells):
        yield text + "\n"


def extract_text(payload: dict[str, Any], options: WorkOptions) -> dict[str, Any]:
    """The text of a PDF (pypdf) or DOCX (python-docx), written to ``text/ab/….txt``."""
    source = safe_path(options.objects_dir, payload["path"])
    mime = payload["mime_type"]
    if mime == PDF:
        parts = _pdf_text(source)
    elif mime == DOCX:
        parts = _docx_text(source, options.max_uncompressed_bytes, options.max_docx_xml_bytes)
    else:
        raise FileRejected("unsupported_type", f"no text extraction for {mime}")
    key = object_key(payload["checksum"], "txt", "text")
    length = 0
    excerpt: list[str] = []
    kept = 0

    def write(handle: BinaryIO) -> None:
        nonlocal length, kept
        for part in parts:
            handle.write(part.encode("utf-8", "surrogatepass"))
            length += len(part)
            if kept < options.excerpt_chars:
                excerpt.append(part[: options.excerpt_chars - kept])
                kept += len(excerpt[-1])

    atomic_write_from(safe_path(options.objects_dir, key), write)
    return {"text_path": key, "text_length": length, "text_excerpt": " ".join("".join(excerpt).split())}


def upload(payload: dict[str, Any], options: WorkOptions) -> dict[str, Any]:
    """Copy the file, its thumbnail and its text to the store named by ``store_uri``."""
    files_store = store_from_uri(options.store_uri)
    stored: dict[str, str] = {}
    for field in ("path", "thumbnail", "text_path"):
        key = payload.get(field)
        if key:
            content_type = payload.get("mime_type") if field == "path" else None
            source = safe_path(options.objects_dir, key)
            stored[field] = files_store.persist_file(key, source, content_type)
    return {"stored": stored}


def load_callable(path: str) -> Callable[..., Any]:
    module_name, _, attribute = path.rpartition(".")
    if not module_name:
        raise ValueError(f"{path!r} is not a dotted path")
    found = getattr(importlib.import_module(module_name), attribute)
    if not callable(found):
        raise TypeError(f"{path!r} is not callable")
    return found


def store_records(payload: dict[str, Any], options: WorkOptions) -> dict[str, Any]:
    """Write a finished batch's records with the store's function, for an item that is gone.

    The store names the function (:class:`~looqta.records.WorkerStore`); it raises
    :class:`~looqta.records.StoreUnavailable` (retried, then again at the next start) or
    :class:`~looqta.records.RecordsRefused` (final). Without a store the records stay in the queue.
    """
    store = options.worker_store
    if store is None:
        return {"outcome": NO_STORE}
    source, _, source_id = payload["item_key"].partition(":")
    seen_at = parse_seen_at((payload.get("item") or {}).get("seen_at"))
    write = load_callable(store.function)
    try:
        outcome = write(store, FileResults(source, source_id, payload["files"], seen_at))
    except RecordsRefused as refused:  # final; re-raised as the pool's final error, which pickles
        raise FileRejected("store_rejected", str(refused)) from None
    return {"function": store.function, "outcome": outcome}


def parse_seen_at(value: Any) -> datetime | None:
    """An item's ``scraped_at`` (ISO 8601 with a time zone) as an aware datetime; None otherwise."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
