"""Regroup the products a crawl touched the way the rebuild would, soon after they were touched.

Offers placed one at a time (``looqta.match.incremental``, ``placement.place``) are grouped in the
order they arrive: a pair made before its better rival was scraped stays made. ``engine.group`` over
every offer is the canonical answer (``python -m looqta.match rebuild``). The reconciler gives the
touched part of the store that answer without a whole rebuild: it collects the blocking keys
(``engine.blocking_keys``: brand, line, GTINs, codes) of the offers matched since it last ran, reads
the products filed under any of them - every offer those keys can meet, so ``group`` over them gives
what the rebuild would for them - regroups them in a thread, and writes only what changed, with the
same conditional writes as the rebuild (a product changed meanwhile is left, counted as a conflict).

When it runs is a pure decision (:func:`due`) on timestamps: not more often than every
``interval_seconds`` while offers keep arriving, and once more when the crawl closes. More than
``max_offers`` offers under the keys (an unknown brand, ``brand:?``, meets every brandless listing)
and it regroups under the offers' narrow keys only (``engine.lookup_keys``); still more, it skips,
logs and counts ``looqta/match/reconcile/skipped`` (the rebuild does it).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import Counter
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from looqta.match import engine
from looqta.match.offers import to_offer
from looqta.match.rebuild import wanted_products, write_wanted

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from looqta.match.incremental import StatsSink
    from looqta.match.products import ProductStore

logger = logging.getLogger(__name__)

STATS_PREFIX = "looqta/match/reconcile"


@dataclass
class ReconcileSummary:
    runs: int = 0
    offers: int = 0  # offers regrouped
    created: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    conflicts: int = 0  # products changed meanwhile by another process: left for the next run
    skipped: int = 0  # runs over max_offers even under narrow keys: left for the rebuild

    def count(self, stats: StatsSink) -> None:
        for name in (f.name for f in fields(self)):
            stats.inc_value(f"{STATS_PREFIX}/{name}", getattr(self, name))


def due(pending: bool, last_run: float | None, now: float, interval_seconds: float, closing: bool) -> bool:
    """Whether to regroup now: something is pending and the crawl closes or the interval has passed."""
    if not pending:
        return False
    return closing or last_run is None or now - last_run >= interval_seconds


class Reconciler:
    def __init__(
        self,
        store: ProductStore,
        interval_seconds: float,
        max_offers: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.interval_seconds = interval_seconds
        self.max_offers = max_offers
        self.clock = clock
        self._keys: set[str] = set()
        self._narrow: set[str] = set()
        self._last_run: float | None = None

    def touched(self, entries: Iterable[dict[str, Any]]) -> None:
        """Offers (product entries) just placed: their products are regrouped at the next run."""
        for entry in entries:
            keys = engine.blocking_keys(to_offer(entry))
            self._keys |= keys
            self._narrow |= engine.lookup_keys(keys)

    @property
    def pending(self) -> bool:
        """Offers were placed since the last run."""
        return bool(self._keys)

    def due(self, closing: bool = False) -> bool:
        return due(self.pending, self._last_run, self.clock(), self.interval_seconds, closing)

    def seconds_until_due(self) -> float:
        if self._last_run is None:
            return 0.0
        return max(0.0, self._last_run + self.interval_seconds - self.clock())

    async def run(self) -> ReconcileSummary:
        keys, narrow = self._keys, self._narrow
        self._keys, self._narrow = set(), set()
        self._last_run = self.clock()
        summary = ReconcileSummary(runs=1)
        docs = await self.store.filed_under(keys, limit_offers=self.max_offers)
        if docs is None:
            docs = await self.store.filed_under(narrow, limit_offers=self.max_offers)
        if docs is None:
            summary.skipped += 1
            logger.warning(
                "Not regrouping the products just matched: more than %d offers share their keys; "
                "run `python -m looqta.match rebuild`",
                self.max_offers,
            )
            return summary
        entries = {e["key"]: e for doc in docs for e in doc["offers"]}
        summary.offers = len(entries)
        existing = {doc["_id"]: doc for doc in docs}
        wanted = kept_ids(await asyncio.to_thread(wanted_products, entries), existing)
        # Ids the regrouping gives that were not under the keys (one read for all of them).
        elsewhere = {doc["_id"]: doc for doc in await self.store.get_many(set(wanted) - set(existing))}
        for product_id, doc in sorted(wanted.items()):
            old = existing.get(product_id) or elsewhere.get(product_id)
            if old is not None and same_grouping(old, doc):
                summary.unchanged += 1  # only the matches that joined them differ: not worth a write
                continue
            await write_wanted(self.store, doc, old, summary)
        for product_id in sorted(set(existing) - set(wanted)):
            if await self.store.delete(product_id, existing[product_id]["version"]):
                summary.removed += 1
            else:
                summary.conflicts += 1
        return summary


def same_grouping(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """The same offers under the same keys: the product a shopper sees is the same (the rebuild's
    matches may name other pairs than the ones placement recorded)."""
    return old["offer_keys"] == new["offer_keys"] and old["blocking_keys"] == new["blocking_keys"]


def kept_ids(
    wanted: dict[str, dict[str, Any]], existing: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The regrouped products under the ids they had: each takes the id of the existing product
    holding most of its offers (ties: the lower id) unless a larger group took it first; a group no
    existing product holds keeps the rebuild's id. Links to a product survive a regroup that only
    moved an offer in or out of it."""
    holder = {key: product_id for product_id, doc in existing.items() for key in doc["offer_keys"]}
    result: dict[str, dict[str, Any]] = {}
    for wanted_id, doc in sorted(wanted.items(), key=lambda item: (-len(item[1]["offer_keys"]), item[0])):
        votes = Counter(holder[key] for key in doc["offer_keys"] if key in holder)
        ranked = sorted(votes, key=lambda product_id: (-votes[product_id], product_id))
        product_id = next((pid for pid in ranked if pid not in result), wanted_id)
        if product_id in result:  # the rebuild's id is one an existing product keeps
            digest = hashlib.sha256(" ".join(doc["offer_keys"]).encode()).hexdigest()[:12]
            product_id = f"{wanted_id}~{digest}"
        result[product_id] = {**doc, "_id": product_id}
    return result
