"""Write the crawl's final stats as JSON (``LOOQTA_STATS_FILE``), for scripts and monitoring."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import NotConfigured

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Spider
    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


class StatsFile:
    def __init__(self, crawler: Crawler) -> None:
        path = crawler.settings.get("LOOQTA_STATS_FILE")
        if not path:
            raise NotConfigured
        self.path_template = str(path)  # may hold %(name)s, the spider's name
        self.crawler = crawler
        crawler.signals.connect(self._spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def _spider_closed(self, spider: Spider, reason: str) -> None:
        stats: dict[str, Any] = dict(self.crawler.stats.get_stats())
        stats["finish_reason"] = reason
        path = Path(self.path_template % {"name": spider.name})
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(stats, default=str, indent=1, sort_keys=True))
        tmp.replace(path)
        logger.info("Stats written to %s", path, extra={"spider": spider})
