"""The download-slots control: the downloader's total concurrency and each slot's, under its own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from looqta import internals

if TYPE_CHECKING:
    from scrapy.core.downloader import Downloader
    from twisted.internet.defer import Deferred

    from looqta.throttle.controls import Follows
    from looqta.throttle.sampler import Sample


class DownloadSlots:
    """Total and per-slot concurrency of Scrapy's downloader.

    The engine starts no new request while ``total_concurrency`` are in the downloader; each
    slot is capped by the level too, but never raised over its own configured value (a site's
    politeness ceiling, ``DOWNLOAD_SLOTS`` or the per-domain default).
    """

    follows: Follows = "concurrency"
    description = "Scrapy's downloader (total and per-slot concurrency)"

    def __init__(self, downloader: Downloader) -> None:
        self.downloader = downloader
        #: Each slot's own concurrency when first seen; the downloader re-creates idle slots
        #: with it, so it is kept by key.
        self.ceilings: dict[str, int] = {}
        self._level: int | None = None

    @property
    def level(self) -> int | None:
        return self._level

    def apply(self, level: int, sample: Sample | None = None) -> None:
        self._level = level
        internals.set_total_concurrency(self.downloader, level)
        for key, slot in list(internals.slots(self.downloader).items()):
            ceiling = self.ceilings.setdefault(key, slot.concurrency)
            internals.set_slot_concurrency(slot, max(1, min(ceiling, level)))

    def recycle(self) -> Deferred[Any] | None:
        return None

    def close(self) -> None:
        """Nothing held: the downloader closes with the crawl."""
