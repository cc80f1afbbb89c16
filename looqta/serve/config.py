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
        if problems:
            raise ServeConfigError("invalid search service settings: " + "; ".join(problems))
