"""robots.txt, obeyed with Protego, plus the paths a site has permitted looqta in writing.

``LOOQTA_ROBOTS_PERMITTED`` maps a spider name to URL path prefixes its site's robots.txt
disallows but whose owner has permitted looqta to read (an agreement, recorded here so it
is explicit and reviewable): ``{"noon": ["/uae-en/search"]}``. Every other rule is obeyed.
A permitted path is counted (``looqta/robots/permitted``) and logged once per crawl.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from scrapy.robotstxt import ProtegoRobotParser
from scrapy.utils.python import to_unicode

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


class PermittedRobotParser(ProtegoRobotParser):
    def __init__(self, robotstxt_body: bytes, crawler: Crawler | None) -> None:
        super().__init__(robotstxt_body, crawler.spider if crawler else None)
        self.crawler = crawler
        permitted = crawler.settings.getdict("LOOQTA_ROBOTS_PERMITTED") if crawler else {}
        name = getattr(self.spider, "name", None)
        prefixes = permitted.get(name, []) if name else []
        if isinstance(prefixes, str) or not all(isinstance(p, str) and p.startswith("/") for p in prefixes):
            raise ValueError(f"LOOQTA_ROBOTS_PERMITTED[{name!r}] must be a list of paths starting with '/'")
        self.permitted: tuple[str, ...] = tuple(prefixes)
        self._told = False

    @classmethod
    def from_crawler(cls, crawler: Crawler, robotstxt_body: bytes) -> Self:
        return cls(robotstxt_body, crawler)

    def allowed(self, url: str | bytes, user_agent: str | bytes) -> bool:
        if super().allowed(url, user_agent):
            return True
        path = urlparse(to_unicode(url)).path
        if not any(path.startswith(prefix) for prefix in self.permitted):
            return False
        if self.crawler is not None:
            self.crawler.stats.inc_value("looqta/robots/permitted")
        if not self._told:
            self._told = True
            logger.warning(
                "robots.txt disallows %s; reading it because LOOQTA_ROBOTS_PERMITTED records a permission",
                path,
            )
        return True
