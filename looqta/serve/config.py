"""The search service's settings, read and checked once (``ServeConfig.from_settings``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from looqta.redisstore.config import RedisConfig
from looqta.store.config import StoreConfig

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings


class ServeConfigError(ValueError):
    """A search service setting is invalid; raised at start-up."""


@dataclass(frozen=True)
class ServeConfig:
    """Every ``LOOQTA_SEARCH_*`` setting, typed. Times in seconds."""

    redis: RedisConfig
    sites: tuple[str, ...] = ("amazon", "noon")
    cache_seconds: float = 900.0
    stale_seconds: float = 3600.0
    max_in_flight: int = 8
    site_timeout_seconds: float = 30.0
    heartbeat_seconds: float = 5.0
    retry_after_seconds: int = 5
    max_pages: int = 1
    max_query_chars: int = 200
    #: The background refresh (looqta/serve/refresh.py): ``LOOQTA_REFRESH_*``; the interval in seconds.
    refresh_enabled: bool = True
    refresh_interval_seconds: float = 3600.0
    refresh_concurrency: int = 2
    refresh_top: int = 20
    #: The store ``GET /api/products/{id}`` reads: the crawl's settings (``MONGO_URI``, ``MONGO_*``).
    store: StoreConfig = field(default_factory=StoreConfig)

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> ServeConfig:
        defaults = cls(redis=RedisConfig())
        config = cls(
            redis=RedisConfig.from_settings(settings),
            sites=tuple(settings.getlist("LOOQTA_SEARCH_SITES", list(defaults.sites))),
            cache_seconds=settings.getfloat("LOOQTA_SEARCH_CACHE_SECONDS", defaults.cache_seconds),
            stale_seconds=settings.getfloat("LOOQTA_SEARCH_STALE_SECONDS", defaults.stale_seconds),
            max_in_flight=settings.getint("LOOQTA_SEARCH_MAX_IN_FLIGHT", defaults.max_in_flight),
            site_timeout_seconds=settings.getfloat(
                "LOOQTA_SEARCH_SITE_TIMEOUT_SECONDS", defaults.site_timeout_seconds
            ),
            heartbeat_seconds=settings.getfloat(
                "LOOQTA_SEARCH_HEARTBEAT_SECONDS", defaults.heartbeat_seconds
            ),
            retry_after_seconds=settings.getint(
                "LOOQTA_SEARCH_RETRY_AFTER_SECONDS", defaults.retry_after_seconds
            ),
            max_pages=settings.getint("LOOQTA_SEARCH_MAX_PAGES", defaults.max_pages),
            refresh_enabled=settings.getbool("LOOQTA_REFRESH_ENABLED", defaults.refresh_enabled),
            refresh_interval_seconds=60
            * _number(settings, "LOOQTA_REFRESH_MINUTES", defaults.refresh_interval_seconds / 60, float),
            refresh_concurrency=int(
                _number(settings, "LOOQTA_REFRESH_CONCURRENCY", defaults.refresh_concurrency, int)
            ),
            refresh_top=int(_number(settings, "LOOQTA_REFRESH_TOP", defaults.refresh_top, int)),
            store=StoreConfig.from_settings(settings),
        )
        config.validate()
        return config

    def validate(self) -> None:
        """Raise :class:`ServeConfigError` listing every problem at once."""
        problems = [] if self.sites else ["LOOQTA_SEARCH_SITES must name at least one site"]
        for name, value in (
            ("LOOQTA_SEARCH_CACHE_SECONDS", self.cache_seconds),
            ("LOOQTA_SEARCH_SITE_TIMEOUT_SECONDS", self.site_timeout_seconds),
            ("LOOQTA_SEARCH_HEARTBEAT_SECONDS", self.heartbeat_seconds),
            ("LOOQTA_SEARCH_MAX_IN_FLIGHT", self.max_in_flight),
            ("LOOQTA_SEARCH_RETRY_AFTER_SECONDS", self.retry_after_seconds),
            ("LOOQTA_SEARCH_MAX_PAGES", self.max_pages),
        ):
            if not value > 0:
                problems.append(f"{name} must be > 0, got {value}")
        if self.stale_seconds < 0:
            problems.append(f"LOOQTA_SEARCH_STALE_SECONDS must be >= 0, got {self.stale_seconds}")
        if self.refresh_enabled:
            problems += self._refresh_problems()
        if problems:
            raise ServeConfigError("invalid search service settings: " + "; ".join(problems))

    def _refresh_problems(self) -> list[str]:
        problems = [
            f"{name} must be > 0, got {value}"
            for name, value in (
                ("LOOQTA_REFRESH_MINUTES", self.refresh_interval_seconds / 60),
                ("LOOQTA_REFRESH_CONCURRENCY", self.refresh_concurrency),
                ("LOOQTA_REFRESH_TOP", self.refresh_top),
            )
            if not value > 0
        ]
        kept_seconds = self.cache_seconds + self.stale_seconds
        if self.refresh_interval_seconds >= kept_seconds:
            problems.append(
                f"LOOQTA_REFRESH_MINUTES ({self.refresh_interval_seconds / 60:g}) must be shorter than "
                f"LOOQTA_SEARCH_CACHE_SECONDS + LOOQTA_SEARCH_STALE_SECONDS ({kept_seconds:g} s): a cached "
                "search would expire before its refresh is due (or set LOOQTA_REFRESH_ENABLED = False)"
            )
        return problems


def _number(settings: BaseSettings, name: str, default: float, kind: type[float] | type[int]) -> float:
    """``settings[name]`` as ``kind``, or :class:`ServeConfigError` naming the setting and the value."""
    value = settings.get(name, default)
    try:
        return kind(value)
    except (TypeError, ValueError):
        what = "a whole number" if kind is int else "a number"
        raise ServeConfigError(f"{name} must be {what}, got {value!r}") from None
