"""Content-addressed keys, atomic writes, and the storage backends chosen by URI scheme.

A key is built from a SHA-256 hex digest and an extension from a fixed list, never from a
name the server sent: ``ab/abcdef….pdf`` (thumbnails ``thumbs/ab/….jpg``, text
``text/ab/….txt``). :func:`safe_path` refuses anything else, so no key can leave its root.

Backends follow Scrapy's ``FilesStoreProtocol`` idea: :class:`FilesStore` is a Protocol and
:data:`STORE_SCHEMES` maps a URI scheme to a class (``s3://`` can be registered later).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from collections.abc import Callable

#: ``[prefix/]ab/<64 hex>.<ext>``: the only shape a key may have.
KEY_RE = re.compile(r"^(?:(?:thumbs|text)/)?([0-9a-f]{2})/\1[0-9a-f]{62}\.[a-z0-9]{2,5}$")
KEY_PREFIXES: tuple[str, ...] = ("", "thumbs", "text")
_TMP_MARK = ".tmp-"


class UnsafeKeyError(ValueError):
    """A key that is not content-addressed, or would resolve outside its root."""


def object_key(checksum: str, ext: str, prefix: str = "") -> str:
    """``ab/abcdef….ext`` for a SHA-256 ``checksum``; ``prefix`` is one of :data:`KEY_PREFIXES`."""
    if prefix not in KEY_PREFIXES:
        raise UnsafeKeyError(f"unknown key prefix {prefix!r}")
    key = f"{checksum[:2]}/{checksum}.{ext}"
    key = f"{prefix}/{key}" if prefix else key
    if not KEY_RE.match(key):
        raise UnsafeKeyError(f"not a content-addressed key: {key!r}")
    return key


def safe_path(root: Path, key: str) -> Path:
    """``root / key``, refusing keys that are not content-addressed or that escape ``root``."""
    if not KEY_RE.match(key):
        raise UnsafeKeyError(f"not a content-addressed key: {key!r}")
    base = root.resolve()
    path = (base / key).resolve()
    if not path.is_relative_to(base):
        raise UnsafeKeyError(f"key {key!r} resolves outside {base}")
    return path


def is_temporary(path: Path) -> bool:
    return _TMP_MARK in path.name


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_place(source: Path, dest: Path) -> bool:
    """Put a copy of ``source`` at ``dest`` atomically; False when ``dest`` already exists.

    A hard link when both are on one file system (no bytes copied), a copy otherwise; either
    way into a temporary name in ``dest``'s directory, fsynced, then renamed, so a reader (or a
    crash) never sees a half-written file. Content-addressed names make an existing ``dest``
    the same content, so it is left alone.
    """
    if dest.exists():
        return False
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f"{dest.name}{_TMP_MARK}{uuid.uuid4().hex}")
    try:
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _fsync_dir(dest.parent)
    return True


def atomic_write_from(dest: Path, write: Callable[[BinaryIO], object]) -> None:
    """Create ``dest`` atomically from ``write(handle)`` (temporary name, fsync, rename)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f"{dest.name}{_TMP_MARK}{uuid.uuid4().hex}")
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # only removed when empty: another file may be there
            dest.parent.rmdir()
        raise
    _fsync_dir(dest.parent)


class FilesStore(Protocol):
    """Where finished files go. Runs inside a worker process: plain, blocking calls."""

    def persist_file(self, key: str, source: Path, content_type: str | None = None) -> str:
        """Store ``source`` under ``key``; return where it now lives (a URI)."""
        ...

    def stat_file(self, key: str) -> dict[str, int] | None:
        """``{"size": …}`` when ``key`` is stored, None otherwise."""
        ...


class LocalFilesStore:
    """A directory on this machine: ``file:///srv/files`` or a plain path."""

    def __init__(self, uri: str) -> None:
        parts = urlsplit(uri)
        raw = unquote(parts.path) if parts.scheme == "file" else uri
        if not raw:
            raise ValueError(f"no directory in {uri!r}")
        self.root = Path(raw)

    def persist_file(self, key: str, source: Path, content_type: str | None = None) -> str:
        dest = safe_path(self.root, key)
        atomic_place(source, dest)
        return dest.as_uri()

    def stat_file(self, key: str) -> dict[str, int] | None:
        path = safe_path(self.root, key)
        try:
            return {"size": path.stat().st_size}
        except FileNotFoundError:
            return None


#: URI scheme → backend class; ``""`` is a plain local path.
STORE_SCHEMES: dict[str, type[FilesStore]] = {"": LocalFilesStore, "file": LocalFilesStore}


def store_from_uri(uri: str) -> FilesStore:
    """The backend for ``uri`` by its scheme; ValueError for a scheme nobody registered."""
    scheme = urlsplit(uri).scheme
    if len(scheme) == 1:  # a Windows drive letter, not a scheme
        scheme = ""
    try:
        cls = STORE_SCHEMES[scheme]
    except KeyError:
        known = ", ".join(repr(s) for s in STORE_SCHEMES if s)
        raise ValueError(f"no files store for scheme {scheme!r} in {uri!r} (known: {known})") from None
    return cls(uri)
