"""Readers of the machine for the throttle's crawl tests (``LOOQTA_THROTTLE_READER``).

Not a spider: a test double imported by ``scrapy crawl`` subprocesses, which only have the
project root on their path.
"""

from __future__ import annotations

from dataclasses import replace

from looqta.throttle.sampler import PsutilReader, SystemReading


class OverMemoryReader(PsutilReader):
    """The real machine, but memory reported 97 % used with 200 MiB available."""

    def system(self) -> SystemReading:
        return replace(super().system(), memory_percent=97.0, available_bytes=200 * 1024 * 1024)
