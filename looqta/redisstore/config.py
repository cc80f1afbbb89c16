"""Redis settings, read and validated once (``RedisConfig.from_settings``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

URL_SCHEMES = ("redis://", "rediss://", "unix://")


class RedisConfigError(ValueError):
    """A Redis setting is invalid; raised at start-up."""


@dataclass(frozen=True)
class RedisConfig:
    """``REDIS_URL`` and every ``LOOQTA_REDIS_*`` setting, typed and checked together.

    ``url`` empty means "use the embedded server" kept under ``data_dir``.
    """

    url: str = ""
    data_dir: Path = Path(".looqta/redis")
    server_start_timeout_seconds: float = 10.0
    connect_timeout_seconds: float = 5.0

    @property
    def embedded(self) -> bool:
        return not self.url

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> RedisConfig:
        defaults = cls()
        config = cls(
            url=str(settings.get("REDIS_URL") or "").strip() or _url_from_file(settings),
            data_dir=Path(settings.get("LOOQTA_REDIS_DATA_DIR") or defaults.data_dir),
            server_start_timeout_seconds=settings.getfloat(
                "LOOQTA_REDIS_SERVER_START_TIMEOUT_SECONDS", defaults.server_start_timeout_seconds
            ),
            connect_timeout_seconds=settings.getfloat(
                "LOOQTA_REDIS_CONNECT_TIMEOUT_SECONDS", defaults.connect_timeout_seconds
            ),
        )
        config.validate()
        return config

    def validate(self) -> None:
        """Raise :class:`RedisConfigError` listing every problem at once."""
        problems: list[str] = []
        if self.url and not self.url.startswith(URL_SCHEMES):
            problems.append(f"REDIS_URL must start with {', '.join(URL_SCHEMES)} (or be empty)")
        for name, value in (
            ("LOOQTA_REDIS_SERVER_START_TIMEOUT_SECONDS", self.server_start_timeout_seconds),
            ("LOOQTA_REDIS_CONNECT_TIMEOUT_SECONDS", self.connect_timeout_seconds),
        ):
            if not value > 0:
                problems.append(f"{name} must be > 0, got {value}")
        if problems:
            raise RedisConfigError("invalid Redis settings: " + "; ".join(problems))


def _url_from_file(settings: BaseSettings) -> str:
    """``LOOQTA_REDIS_URL_FILE``: a 0600 file holding the URL, so that a password in it is neither on a
    command line nor in an environment (how looqta.ops hands Redis to its Scrapyd jobs)."""
    path = settings.get("LOOQTA_REDIS_URL_FILE")
    return Path(path).read_text().strip() if path else ""
