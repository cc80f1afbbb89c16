"""The store writer's hand-off to matching: offer keys queued, matched in a task of their own.

:class:`MatchQueue` takes the keys of each written batch (a plain call, returns at once) and matches
them one batch at a time (``looqta.match.incremental``). Once the queue is empty and offers were
placed, the reconciler (``looqta.match.reconcile``) regroups their products as the rebuild would, as
soon as its interval allows (waiting for it in the same task, woken by new keys), and once more when
the crawl closes: :meth:`MatchQueue.close` waits for both.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from looqta.match.incremental import STATS_PREFIX, IncrementalMatcher
from looqta.match.offers import OfferReader
from looqta.match.products import ProductStore
from looqta.match.reconcile import Reconciler

if TYPE_CHECKING:
    from collections.abc import Iterable

    from pymongo.asynchronous.database import AsyncDatabase

    from looqta.match.incremental import StatsSink
    from looqta.store.config import StoreConfig

logger = logging.getLogger(__name__)


class MatchQueue:
    """Offer keys the store wrote, matched in the background one batch at a time, then reconciled."""

    def __init__(
        self,
        matcher: IncrementalMatcher,
        stats: StatsSink,
        batch_size: int,
        reconciler: Reconciler | None = None,
    ) -> None:
        self.matcher = matcher
        self.stats = stats
        self.batch_size = batch_size
        self.reconciler = reconciler
        if reconciler is not None:
            matcher.on_placed = reconciler.touched
        self._keys: list[str] = []
        self._task: asyncio.Task[None] | None = None
        self._indexes_ready = False
        self._closing = False
        self._wake = asyncio.Event()

    def submit(self, keys: Iterable[str]) -> None:
        """Queue offers just written; returns at once."""
        self._keys.extend(keys)
        self._wake.set()
        if self._keys and (self._task is None or self._task.done()):
            self._task = asyncio.ensure_future(self._run())

    async def close(self) -> None:
        """Wait until everything submitted is matched (or counted as failed) and reconciled."""
        self._closing = True
        self._wake.set()
        while self._task is not None and not self._task.done():
            await self._task

    async def _run(self) -> None:
        while True:
            while self._keys:
                batch, self._keys = self._keys[: self.batch_size], self._keys[self.batch_size :]
                await self._match(batch)
            reconciler = self.reconciler
            if reconciler is None or not reconciler.pending:
                return  # nothing placed since the last reconcile
            if reconciler.due(closing=self._closing):
                await self._reconcile(reconciler)
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=reconciler.seconds_until_due())

    async def _match(self, batch: list[str]) -> None:
        try:
            if not self._indexes_ready:
                await self.matcher.store.ensure_indexes()
                self._indexes_ready = True
            summary = await self.matcher.match(batch)
        except Exception as error:  # noqa: BLE001 - the offers are stored; the rebuild matches them
            self.stats.inc_value(f"{STATS_PREFIX}/failed", len(batch))
            logger.warning(
                "Matching %d stored offers failed (%s: %s); left for `python -m looqta.match rebuild`",
                len(batch),
                type(error).__name__,
                error,
            )
            return
        summary.count(self.stats)

    async def _reconcile(self, reconciler: Reconciler) -> None:
        try:
            summary = await reconciler.run()
        except Exception as error:  # noqa: BLE001 - products stay as matched; the rebuild regroups them
            self.stats.inc_value(f"{STATS_PREFIX}/reconcile/failed")
            logger.warning(
                "Regrouping the products just matched failed (%s: %s); run `python -m looqta.match rebuild`",
                type(error).__name__,
                error,
            )
            return
        summary.count(self.stats)


def matching_queue(
    database: AsyncDatabase[dict[str, Any]], stats: StatsSink, config: StoreConfig
) -> MatchQueue:
    """The queue the store writer feeds, matching into ``database``'s products."""
    store = ProductStore(database)
    reconciler = None
    if config.match_reconcile_enabled:
        reconciler = Reconciler(store, config.match_reconcile_seconds, config.match_reconcile_max_offers)
    return MatchQueue(IncrementalMatcher(OfferReader(database), store), stats, config.batch_size, reconciler)
