"""Item pipeline: a warm search's item is streamed as an ``offer`` once it passed validation and dedup.

A shopper waits for offers, not for their storage: the store and files pipelines (product pages'
images downloaded and hashed) come after this one, so an offer no longer waits for them. A warm
crawler installs it at ``OFFER_PIPELINE_PRIORITY`` (looqta.search.warm) and its tracker sends the
offer (``SearchTracker.offer``, once per item); an item a later pipeline drops has been shown
already. Inactive until a warm spider registers its tracker (``search_tracker_opened``).
"""

from __future__ import annotations

from typing import Any

from looqta.search.tracker import UsesSearchTracker


class SearchOfferPipeline(UsesSearchTracker):
    def process_item(self, item: Any) -> Any:
        if self.tracker is not None:
            self.tracker.offer(item)
        return item
