"""Scheduler queue: higher-priority jobs first across every site, fair between sites otherwise.

Scrapy's default ``DownloaderAwarePriorityQueue`` keeps one priority queue per
download slot and pops from the slot with the fewest active downloads:
priority only orders requests *within* a slot, so a manual request for a busy
site waits behind bulk requests for idle ones. Here the slots whose next
request has the highest priority are chosen first, and among those the
downloader-aware choice applies unchanged, so a site cooling down after a 429
still does not hog the downloader.

Manual jobs get a higher request priority than bulk jobs (``JOB_PRIORITY``);
an item's file downloads bypass the scheduler (the file pipeline sends them
straight to the downloader), so they go ahead of any page still queued.
"""

from __future__ import annotations

from scrapy.pqueues import DownloaderAwarePriorityQueue

#: Request priority per job kind (higher runs first).
JOB_PRIORITY: dict[str, int] = {"manual": 100, "bulk": 0}


class JobAwarePriorityQueue(DownloaderAwarePriorityQueue):
    def _next_slot(self, stats: list[tuple[int, str]], *, update_state: bool) -> str:
        # ScrapyPriorityQueue.curprio is the negated priority of its next request.
        best = min(self.pqueues[slot].curprio or 0 for _, slot in stats)
        top = [(active, slot) for active, slot in stats if (self.pqueues[slot].curprio or 0) == best]
        return super()._next_slot(top, update_state=update_state)
