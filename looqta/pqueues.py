"""Scheduler queue: higher-priority jobs first across every site, fair between sites otherwise.

Scrapy's ``DownloaderAwarePriorityQueue`` orders by priority only within a download slot; here the
slots whose next request has the highest priority go first (manual jobs before bulk,
``REQUEST_PRIORITY_BY_JOB``). README's "Manual and bulk jobs" says why.
"""

from __future__ import annotations

from scrapy.pqueues import DownloaderAwarePriorityQueue

from looqta import internals

#: Request priority per job kind (higher runs first).
REQUEST_PRIORITY_BY_JOB: dict[str, int] = {"manual": 100, "bulk": 0}

# Scrapy calls the override by this name: fail on import (at the crawl's start) if it no longer does.
internals.check_overridden_hooks(DownloaderAwarePriorityQueue)


class JobAwarePriorityQueue(DownloaderAwarePriorityQueue):
    def _next_slot(self, stats: list[tuple[int, str]], *, update_state: bool) -> str:
        # ScrapyPriorityQueue.curprio is the negated priority of its next request.
        best = min(self.pqueues[slot].curprio or 0 for _, slot in stats)
        top = [(active, slot) for active, slot in stats if (self.pqueues[slot].curprio or 0) == best]
        return internals.next_slot(self, top, update_state=update_state)
