"""The page pool's settings, read and checked once when the download handler starts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

#: Defaults, used when a setting is absent (``looqta/settings.py`` may set them explicitly).
DEFAULT_MAX_PAGES = 4
DEFAULT_PAGE_MAX_USES = 100
DEFAULT_CONTEXT_MAX_PAGES = 10
DEFAULT_RESET_TIMEOUT_SECONDS = 5.0
DEFAULT_GC_EVERY_USES = 4


class PagePoolConfigError(ValueError):
    """The page pool settings cannot work; raised when the handler starts, never mid-crawl."""


@dataclass(frozen=True)
class PagePoolConfig:
    enabled: bool
    max_pages: int
    page_max_uses: int
    context_max_pages: int
    isolated_contexts: tuple[str, ...]
    clear_http_cache: bool
    reset_timeout_seconds: float
    blank_reset: bool = False
    gc_every_uses: int = DEFAULT_GC_EVERY_USES

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> PagePoolConfig:
        config = cls(
            enabled=settings.getbool("LOOQTA_PAGE_POOL_ENABLED", True),
            max_pages=settings.getint("LOOQTA_PAGE_POOL_MAX_PAGES", DEFAULT_MAX_PAGES),
            page_max_uses=settings.getint("LOOQTA_PAGE_POOL_PAGE_MAX_USES", DEFAULT_PAGE_MAX_USES),
            context_max_pages=settings.getint(
                "LOOQTA_PAGE_POOL_CONTEXT_MAX_PAGES", DEFAULT_CONTEXT_MAX_PAGES
            ),
            isolated_contexts=tuple(settings.getlist("LOOQTA_PAGE_POOL_ISOLATED_CONTEXTS")),
            clear_http_cache=settings.getbool("LOOQTA_PAGE_POOL_CLEAR_HTTP_CACHE", True),
            reset_timeout_seconds=settings.getfloat(
                "LOOQTA_PAGE_POOL_RESET_TIMEOUT_SECONDS", DEFAULT_RESET_TIMEOUT_SECONDS
            ),
            blank_reset=settings.getbool("LOOQTA_PAGE_POOL_BLANK_RESET", False),
            gc_every_uses=settings.getint("LOOQTA_PAGE_POOL_GC_EVERY_USES", DEFAULT_GC_EVERY_USES),
        )
        for name, value in (
            ("LOOQTA_PAGE_POOL_MAX_PAGES", config.max_pages),
            ("LOOQTA_PAGE_POOL_PAGE_MAX_USES", config.page_max_uses),
            ("LOOQTA_PAGE_POOL_CONTEXT_MAX_PAGES", config.context_max_pages),
            ("LOOQTA_PAGE_POOL_GC_EVERY_USES", config.gc_every_uses),
        ):
            if value < 1:
                raise PagePoolConfigError(f"{name} must be >= 1, got {value}")
        if config.reset_timeout_seconds <= 0:
            raise PagePoolConfigError(
                f"LOOQTA_PAGE_POOL_RESET_TIMEOUT_SECONDS must be > 0, got {config.reset_timeout_seconds}"
            )
        return config
