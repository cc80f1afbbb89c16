"""Third-party loggers at WARNING unless asked: a crawl's log at DEBUG stays the crawl's.

Scrapy's root handler takes every record at ``LOG_LEVEL`` (DEBUG by default), and pymongo alone
writes hundreds of DEBUG records per crawl (every command, connection and server selection). At
crawl start this sets the loggers in ``LOOQTA_THIRD_PARTY_LOGGERS`` to
``LOOQTA_THIRD_PARTY_LOG_LEVEL`` (default WARNING; empty: leave them alone), except a logger whose
level was already set by someone else (``logging.getLogger("pymongo").setLevel(...)``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scrapy.exceptions import NotConfigured

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

#: Third-party loggers seen writing DEBUG records into a crawl's log (a demo crawl at DEBUG).
DEFAULT_LOGGERS: tuple[str, ...] = ("pymongo", "protego")


@dataclass(frozen=True)
class LogLevelsConfig:
    level: int | None
    loggers: tuple[str, ...]

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> LogLevelsConfig:
        name = settings.get("LOOQTA_THIRD_PARTY_LOG_LEVEL", "WARNING")
        loggers = tuple(settings.getlist("LOOQTA_THIRD_PARTY_LOGGERS", list(DEFAULT_LOGGERS)))
        if name in (None, ""):
            return cls(None, loggers)
        level = logging.getLevelNamesMapping().get(str(name).upper()) if not isinstance(name, int) else name
        if level is None:
            raise ValueError(f"LOOQTA_THIRD_PARTY_LOG_LEVEL must be a logging level name, got {name!r}")
        return cls(level, loggers)


class ThirdPartyLogLevels:
    """Sets the configured third-party loggers' level when the crawler is built (before any store call)."""

    def __init__(self, crawler: Crawler) -> None:
        config = LogLevelsConfig.from_settings(crawler.settings)
        if config.level is None or not config.loggers:
            raise NotConfigured("LOOQTA_THIRD_PARTY_LOG_LEVEL is empty")
        self.changed: list[str] = []
        for name in config.loggers:
            target = logging.getLogger(name)
            # NOTSET: nobody chose a level; config.level: set by another crawl of this process.
            if target.level in (logging.NOTSET, config.level):
                target.setLevel(config.level)
                self.changed.append(name)
            else:
                logger.debug("Logger %r keeps its level %s", name, logging.getLevelName(target.level))

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)
