"""The numbers a running crawl reports about itself: one snapshot, two renderings.

``snapshot()`` reads the crawler's stats and live components into a flat dict (the JSON status);
``LooqtaCollector`` renders the same values as Prometheus gauges. Values whose source does not run in
this crawl are left out, not reported as 0. Served by :mod:`looqta.extensions.metrics_endpoint`.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Any

import psutil
from prometheus_client.core import GaugeMetricFamily

from looqta.pqueues import REQUEST_PRIORITY_BY_JOB

if TYPE_CHECKING:
    from collections.abc import Iterator

    from scrapy.crawler import Crawler

#: Gauges named after the design's list, and the crawler stats they come from.
STAT_GAUGES: dict[str, tuple[str, str]] = {
    "file_queue_pending": ("looqta/files/tasks/pending", "file tasks waiting in the durable queue"),
    "file_tasks_processing": ("looqta/files/tasks/processing", "file tasks being worked on"),
    "file_workers_active": ("looqta/files/workers/active", "file worker processes busy"),
    "file_workers_total": ("looqta/files/workers/total", "file worker processes in the pool"),
    "file_latency_p50_seconds": ("looqta/files/latency/p50_seconds", "file task latency, median"),
    "file_latency_p95_seconds": ("looqta/files/latency/p95_seconds", "file task latency, 95th percentile"),
    "concurrency_target": ("looqta/throttle/concurrency", "download concurrency set by the throttle"),
    "browser_pages_target": ("looqta/throttle/browser_pages", "rendered pages at once set by the throttle"),
    "file_workers_target": ("looqta/throttle/file_workers", "file workers set by the resource throttle"),
    "pages_rendered_total": ("looqta/render/browser", "pages rendered in the browser"),
    "pages_plain_total": ("looqta/render/http", "pages fetched over plain HTTP"),
    "items_total": ("item_scraped_count", "items scraped"),
    "items_dropped_total": ("item_dropped_count", "items dropped"),
    # Set at spider close (looqta.health); each failed check is also looqta/health/failed/<check> = 1.
    "health_ok": ("looqta/health/ok", "1 when every run-health check passed, 0 when one failed"),
    "health_checks_failed": ("looqta/health/failed", "run-health checks that failed"),
}
RATE_WINDOW_SECONDS = 60.0


class RateWindow:
    """Pages and items per minute over the last minute, from timestamped counter samples."""

    def __init__(self, window_seconds: float = RATE_WINDOW_SECONDS) -> None:
        self.window = window_seconds
        self.samples: deque[tuple[float, int, int]] = deque()

    def add(self, now: float, pages: int, items: int) -> None:
        self.samples.append((now, pages, items))
        while len(self.samples) > 2 and now - self.samples[1][0] >= self.window:
            self.samples.popleft()

    def per_minute(self) -> tuple[float, float]:
        if len(self.samples) < 2:
            return 0.0, 0.0
        (t0, pages0, items0), (t1, pages1, items1) = self.samples[0], self.samples[-1]
        minutes = (t1 - t0) / 60 or 1 / 60
        return (pages1 - pages0) / minutes, (items1 - items0) / minutes


def queue_lengths(crawler: Crawler) -> dict[str, int]:
    """Requests waiting in the scheduler, by job kind (manual vs bulk)."""
    scheduler = crawler.engine.scheduler if crawler.engine else None
    counts = {"manual": 0, "bulk": 0}
    queue = getattr(scheduler, "mqs", None)
    per_slot = getattr(queue, "pqueues", None)
    if per_slot is None:
        return counts
    for slot_queue in list(per_slot.values()):
        for queues in (slot_queue.queues, getattr(slot_queue, "_start_queues", {})):
            for negated_priority, waiting in list(queues.items()):
                kind = "manual" if -negated_priority >= REQUEST_PRIORITY_BY_JOB["manual"] else "bulk"
                counts[kind] += len(waiting)
    return counts


def browser_pages(crawler: Crawler) -> dict[str, float]:
    """Rendered pages busy / free / utilisation: the page pool's own counts when it runs, else
    scrapy-playwright's open pages against its per-context limit."""
    stats = crawler.stats
    if stats.get_value("looqta/pagepool/page_limit") is not None:
        limit = int(stats.get_value("looqta/pagepool/page_limit", 0))
        active = int(stats.get_value("looqta/pagepool/in_use", 0))
    else:
        opened = stats.get_value("playwright/page_count", 0)
        closed = stats.get_value("playwright/page_count/closed", 0)
        contexts = stats.get_value("playwright/context_count", 0) - stats.get_value(
            "playwright/context_count/closed", 0
        )
        limit = crawler.settings.getint("PLAYWRIGHT_MAX_PAGES_PER_CONTEXT") * max(1, contexts)
        active = max(0, opened - closed)
    return {
        "browser_pages_active": active,
        "browser_pages_available": max(0, limit - active),
        "browser_utilisation": active / limit if limit else 0.0,
    }


def snapshot(crawler: Crawler, rates: RateWindow) -> dict[str, Any]:
    stats = crawler.stats
    memory = psutil.virtual_memory()
    pages_per_minute, items_per_minute = rates.per_minute()
    queues = queue_lengths(crawler)
    values: dict[str, Any] = {
        "spider": crawler.spider.name if crawler.spider else None,
        "time": time.time(),
        "active_jobs": 1,
        "pages_per_minute": round(pages_per_minute, 1),
        "items_per_minute": round(items_per_minute, 1),
        "queue_manual": queues["manual"],
        "queue_bulk": queues["bulk"],
        "system_cpu_percent": psutil.cpu_percent(interval=None),
        "system_memory_percent": memory.percent,
        "system_memory_available_bytes": memory.available,
        **browser_pages(crawler),
    }
    for name, (key, _) in STAT_GAUGES.items():
        value = stats.get_value(key)
        if isinstance(value, (int, float)):
            values[name] = value
    return values


class LooqtaCollector:
    """Prometheus collector over :func:`snapshot`, plus every numeric Scrapy stat."""

    def __init__(self, crawler: Crawler, rates: RateWindow) -> None:
        self.crawler = crawler
        self.rates = rates

    def collect(self) -> Iterator[GaugeMetricFamily]:
        values = snapshot(self.crawler, self.rates)
        spider = str(values.pop("spider"))
        values.pop("time")
        help_by_name = {name: text for name, (_, text) in STAT_GAUGES.items()}
        for name, value in values.items():
            gauge = GaugeMetricFamily(
                f"looqta_{name}", help_by_name.get(name, name.replace("_", " ")), labels=["spider"]
            )
            gauge.add_metric([spider], float(value))
            yield gauge
        stats = GaugeMetricFamily("looqta_scrapy_stat", "every numeric Scrapy stat", labels=["spider", "key"])
        for key, value in sorted(self.crawler.stats.get_stats().items()):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                stats.add_metric([spider, key], float(value))
        yield stats
