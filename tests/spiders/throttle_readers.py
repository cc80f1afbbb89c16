"""Readers of the machine for the throttle's crawl tests (``LOOQTA_THROTTLE_READER``), and a probe
of the downloader they act on.

Not a spider: a test double imported by ``scrapy crawl`` subprocesses, which only have the
project root on their path.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

from scrapy import signals

from looqta import internals
from looqta.throttle.sampler import PsutilReader, SystemReading

if TYPE_CHECKING:
    from typing import Self

    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response


class OverMemoryReader(PsutilReader):
    """The real machine, but memory reported 97 % used with 200 MiB available."""

    def system(self) -> SystemReading:
        return replace(super().system(), memory_percent=97.0, available_bytes=200 * 1024 * 1024)


class NicedHotReader(PsutilReader):
    """Real memory; CPU reported 95 % busy, 50 points of it niced, for the first
    :attr:`HOT_SECONDS` of readings, then 30 % with nothing niced: a machine the crawl's own work
    (45 %) leaves within the limit while niced file work pushes it over."""

    HOT_SECONDS = 6.0

    def __init__(self) -> None:
        super().__init__()
        self.started: float | None = None

    def system(self) -> SystemReading:
        reading = super().system()
        now = time.monotonic()
        if self.started is None:
            self.started = now
        if now - self.started < self.HOT_SECONDS:
            return replace(reading, cpu_percent=95.0, nice_cpu_percent=50.0)
        return replace(reading, cpu_percent=30.0, nice_cpu_percent=0.0)


class DownloaderProbe:
    """An extension recording the downloader's real concurrency as each answer arrives, so a test
    sees the throttle's limits reach Scrapy's downloader, not only the throttle's own stats:
    ``probe/downloader/total_concurrency/min`` and ``probe/downloader/slot_concurrency/min`` (the
    answer's download slot)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        crawler.signals.connect(self._response_downloaded, signal=signals.response_downloaded)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def _response_downloaded(self, response: Response, request: Request, spider: Spider) -> None:
        stats = self.crawler.stats
        assert stats is not None
        downloader = internals.downloader(self.crawler)
        stats.min_value("probe/downloader/total_concurrency/min", internals.total_concurrency(downloader))
        slot = internals.slots(downloader).get(str(request.meta.get("download_slot")))
        if slot is not None:
            stats.min_value("probe/downloader/slot_concurrency/min", slot.concurrency)
