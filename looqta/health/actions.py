"""Spidermon action: the health verdict into the crawl's stats and its log.

Stats (``looqta/health/...``): ``ok`` (bool), ``failed`` (count), ``failed_checks`` (names),
``checks`` (count), ``summary`` (the summary line), ``<check>`` (each measured value) and
``failed/<check>`` = 1 for each failed check (numeric, so /metrics exports it). One ERROR line
per failed check, then one INFO summary line (read back by ``python -m looqta.ops jobs``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from spidermon import Action

from looqta.health.checks import failed, summary

if TYPE_CHECKING:
    from scrapy.statscollectors import StatsCollector

    from looqta.health.checks import Check

logger = logging.getLogger(__name__)

#: Where monitors leave their :class:`Check` s in Spidermon's shared ``data.meta``.
META_KEY = "looqta_health_checks"
STATS_PREFIX = "looqta/health"


def record(stats: StatsCollector, checks: list[Check]) -> None:
    """Write ``checks`` into ``stats`` under ``looqta/health/``."""
    bad = failed(checks)
    stats.set_value(f"{STATS_PREFIX}/ok", not bad)
    stats.set_value(f"{STATS_PREFIX}/checks", len(checks))
    stats.set_value(f"{STATS_PREFIX}/failed", len(bad))
    stats.set_value(f"{STATS_PREFIX}/failed_checks", [check.name for check in bad])
    stats.set_value(f"{STATS_PREFIX}/summary", summary(checks))
    for check in checks:
        if check.value is not None:
            stats.set_value(f"{STATS_PREFIX}/{check.name}", check.value)
        if not check.ok:
            stats.set_value(f"{STATS_PREFIX}/failed/{check.name}", 1)


def checks_of(data: Any, *, take: bool = False) -> list[Check]:
    """This crawl's checks in Spidermon's ``data.meta``. That dict is one class-level default
    shared by every runner of the process: two crawls in one process (the demo) must not see
    each other's checks, so they are kept per crawler, and taken by the action that records them."""
    per_crawler: dict[int, list[Check]] = data.meta.setdefault(META_KEY, {})
    if take:
        return per_crawler.pop(id(data.crawler), [])
    return per_crawler.setdefault(id(data.crawler), [])


class RecordHealth(Action):
    def run_action(self) -> None:
        checks = checks_of(self.data, take=True)
        spider = self.data.spider
        record(self.data.crawler.stats, checks)
        for check in failed(checks):
            logger.error("health: %s", check.message, extra={"spider": spider})
        logger.info("%s", summary(checks), extra={"spider": spider})
