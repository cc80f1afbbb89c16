"""Progress lines that say which site they are about and how its pages were fetched.

Scrapy's LogStats line ("Crawled 11 pages ... scraped 7 items") does not name the
spider, which is ambiguous when several sites crawl in one process, and does
not tell rendered pages from plain ones. This replaces it (same
``LOGSTATS_INTERVAL``, same final ``responses_per_minute`` / ``items_per_minute``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from scrapy.extensions.logstats import LogStats

if TYPE_CHECKING:
    from scrapy import Spider

logger = logging.getLogger(__name__)


class Progress(LogStats):
    def log(self, spider: Spider) -> None:
        self.calculate_stats()
        get = self.stats.get_value
        logger.info(
            "[%(site)s] %(pages)d pages (%(browser)d rendered, %(http)d plain; %(pagerate)d/min), "
            "%(items)d items (%(itemrate)d/min), %(dropped)d dropped",
            {
                "site": spider.name,
                "pages": self.pages,
                "browser": get("looqta/render/browser", 0),
                "http": get("looqta/render/http", 0),
                "pagerate": self.prate,
                "items": self.items,
                "itemrate": self.irate,
                "dropped": get("item_dropped_count", 0),
            },
            extra={"spider": spider},
        )
