"""``REDIS_URL`` filled in for the components that read the setting themselves (scrapy-redis).

Enabled per crawler that uses Redis (``ADDONS``), not project-wide: with ``REDIS_URL`` empty it
finds or starts the embedded server when the crawler is built, and sets ``REDIS_URL`` to its URL
(password included, at the setting's own priority). Scrapy's "Overridden settings" log line lists
only Scrapy's own settings, so the URL is not logged. Left empty, scrapy-redis would connect to its
default, ``localhost:6379``, which looqta never uses. docs/redis.md.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from looqta.redisstore.client import redact, server_url
from looqta.redisstore.config import RedisConfig

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)


class EmbeddedRedisAddon:
    """Scrapy add-on: ``REDIS_URL`` empty -> the embedded redis-server's URL (started if need be)."""

    def update_settings(self, settings: BaseSettings) -> None:
        config = RedisConfig.from_settings(settings)
        if not config.embedded:
            return
        url = server_url(config)
        settings.set("REDIS_URL", url, priority=settings.getpriority("REDIS_URL") or "addon")
        logger.info("REDIS_URL empty: using the embedded redis-server %s", redact(url))
