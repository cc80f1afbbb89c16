"""The store's settings, read and validated once (``StoreConfig.from_settings``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

#: MongoDB refuses documents larger than this (16 MiB).
BSON_MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
#: The most operations MongoDB takes in one write command batch.
MONGO_MAX_BATCH = 100_000
_BAD_DATABASE_CHARS = re.compile(r"[/\\. \"$\x00]")


class StoreConfigError(ValueError):
    """A store setting is invalid or contradicts another one; raised at start-up."""


@dataclass(frozen=True)
class StoreConfig:
    """Every ``MONGO_*`` / ``LOOQTA_STORE_*`` setting, typed and checked together.

    ``uri`` empty means "use the embedded server" kept under ``data_dir``.
    """

    enabled: bool = True
    #: Match offers into products as they are written (``looqta.match.incremental``).
    match_enabled: bool = True
    #: Regroup the products matching touched as the rebuild would (``looqta.match.reconcile``) ...
    match_reconcile_enabled: bool = True
    #: ... at most this often while offers keep arriving, and when the crawl closes ...
    match_reconcile_seconds: float = 60.0
    #: ... unless more offers than this share the touched offers' keys (then: the rebuild's job).
    match_reconcile_max_offers: int = 20_000
    uri: str = ""
    database: str = "looqta"
    data_dir: Path = Path(".looqta/mongo")
    spool_dir: Path = Path(".looqta/spool")
    #: The spool's documents stop growing here; new documents are then dropped (stat ``spool_full``).
    spool_max_bytes: int = 1024**3
    batch_size: int = 500
    flush_interval_seconds: float = 2.0
    connect_timeout_seconds: float = 5.0
    write_timeout_seconds: float = 60.0
    retry_initial_seconds: float = 1.0
    retry_max_seconds: float = 30.0
    server_start_timeout_seconds: float = 30.0
    #: An embedded server started by a crawl exits after this long without a client (0: never).
    server_idle_seconds: float = 600.0
    max_field_bytes: int = 16 * 1024
    max_document_bytes: int = 1024 * 1024

    @property
    def embedded(self) -> bool:
        return not self.uri

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> StoreConfig:
        defaults = cls()
        config = cls(
            enabled=settings.getbool("LOOQTA_STORE_ENABLED", defaults.enabled),
            match_enabled=settings.getbool("LOOQTA_STORE_MATCH_ENABLED", defaults.match_enabled),
            match_reconcile_enabled=settings.getbool(
                "LOOQTA_STORE_MATCH_RECONCILE_ENABLED", defaults.match_reconcile_enabled
            ),
            match_reconcile_seconds=settings.getfloat(
                "LOOQTA_STORE_MATCH_RECONCILE_SECONDS", defaults.match_reconcile_seconds
            ),
            match_reconcile_max_offers=settings.getint(
                "LOOQTA_STORE_MATCH_RECONCILE_MAX_OFFERS", defaults.match_reconcile_max_offers
            ),
            uri=str(settings.get("MONGO_URI") or "").strip(),
            database=str(settings.get("MONGO_DATABASE") or defaults.database).strip(),
            data_dir=Path(settings.get("LOOQTA_STORE_DATA_DIR") or defaults.data_dir),
            spool_dir=Path(settings.get("LOOQTA_STORE_SPOOL_DIR") or defaults.spool_dir),
            spool_max_bytes=settings.getint("LOOQTA_STORE_SPOOL_MAX_BYTES", defaults.spool_max_bytes),
            batch_size=settings.getint("LOOQTA_STORE_BATCH_SIZE", defaults.batch_size),
            flush_interval_seconds=settings.getfloat(
                "LOOQTA_STORE_FLUSH_INTERVAL_SECONDS", defaults.flush_interval_seconds
            ),
            connect_timeout_seconds=settings.getfloat(
                "LOOQTA_STORE_CONNECT_TIMEOUT_SECONDS", defaults.connect_timeout_seconds
            ),
            write_timeout_seconds=settings.getfloat(
                "LOOQTA_STORE_WRITE_TIMEOUT_SECONDS", defaults.write_timeout_seconds
            ),
            retry_initial_seconds=settings.getfloat(
                "LOOQTA_STORE_RETRY_INITIAL_SECONDS", defaults.retry_initial_seconds
            ),
            retry_max_seconds=settings.getfloat("LOOQTA_STORE_RETRY_MAX_SECONDS", defaults.retry_max_seconds),
            server_start_timeout_seconds=settings.getfloat(
                "LOOQTA_STORE_SERVER_START_TIMEOUT_SECONDS", defaults.server_start_timeout_seconds
            ),
            server_idle_seconds=settings.getfloat(
                "LOOQTA_STORE_SERVER_IDLE_SECONDS", defaults.server_idle_seconds
            ),
            max_field_bytes=settings.getint("LOOQTA_STORE_MAX_FIELD_BYTES", defaults.max_field_bytes),
            max_document_bytes=settings.getint(
                "LOOQTA_STORE_MAX_DOCUMENT_BYTES", defaults.max_document_bytes
            ),
        )
        config.validate()
        return config

    def validate(self) -> None:
        """Raise :class:`StoreConfigError` listing every problem at once."""
        problems: list[str] = []
        if self.uri and not self.uri.startswith(("mongodb://", "mongodb+srv://")):
            problems.append("MONGO_URI must start with mongodb:// or mongodb+srv:// (or be empty)")
        if not self.database or _BAD_DATABASE_CHARS.search(self.database) or len(self.database) > 63:
            problems.append(f"MONGO_DATABASE {self.database!r} is not a valid database name")
        if not 1 <= self.batch_size <= MONGO_MAX_BATCH:
            problems.append(f"LOOQTA_STORE_BATCH_SIZE must be within 1..{MONGO_MAX_BATCH}")
        for name, value in (
            ("LOOQTA_STORE_FLUSH_INTERVAL_SECONDS", self.flush_interval_seconds),
            ("LOOQTA_STORE_CONNECT_TIMEOUT_SECONDS", self.connect_timeout_seconds),
            ("LOOQTA_STORE_WRITE_TIMEOUT_SECONDS", self.write_timeout_seconds),
            ("LOOQTA_STORE_RETRY_INITIAL_SECONDS", self.retry_initial_seconds),
            ("LOOQTA_STORE_SERVER_START_TIMEOUT_SECONDS", self.server_start_timeout_seconds),
        ):
            if not value > 0:
                problems.append(f"{name} must be > 0, got {value}")
        if self.server_idle_seconds < 0:
            problems.append(
                f"LOOQTA_STORE_SERVER_IDLE_SECONDS must be >= 0 (0: never), got {self.server_idle_seconds}"
            )
        if self.match_reconcile_seconds < 0:
            problems.append(
                f"LOOQTA_STORE_MATCH_RECONCILE_SECONDS must be >= 0, got {self.match_reconcile_seconds}"
            )
        if self.match_reconcile_max_offers < 1:
            problems.append(
                f"LOOQTA_STORE_MATCH_RECONCILE_MAX_OFFERS must be >= 1, got {self.match_reconcile_max_offers}"
            )
        if self.retry_max_seconds < self.retry_initial_seconds:
            problems.append("LOOQTA_STORE_RETRY_MAX_SECONDS must be >= LOOQTA_STORE_RETRY_INITIAL_SECONDS")
        if not 0 < self.max_field_bytes < self.max_document_bytes:
            problems.append("LOOQTA_STORE_MAX_FIELD_BYTES must be > 0 and < LOOQTA_STORE_MAX_DOCUMENT_BYTES")
        if self.max_document_bytes > BSON_MAX_DOCUMENT_BYTES:
            problems.append(
                f"LOOQTA_STORE_MAX_DOCUMENT_BYTES must be <= {BSON_MAX_DOCUMENT_BYTES} (BSON limit)"
            )
        if self.spool_max_bytes < self.max_document_bytes:
            problems.append(
                "LOOQTA_STORE_SPOOL_MAX_BYTES must be >= LOOQTA_STORE_MAX_DOCUMENT_BYTES (one document fits)"
            )
        if self.spool_dir.resolve() == self.data_dir.resolve():
            problems.append("LOOQTA_STORE_SPOOL_DIR and LOOQTA_STORE_DATA_DIR must be different directories")
        if problems:
            raise StoreConfigError("invalid store settings: " + "; ".join(problems))
