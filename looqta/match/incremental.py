"""Match offers into products as the store writer writes them, without holding up the crawl.

The store writer hands each written batch's offer keys to :class:`MatchQueue` (a plain call; the
matching runs in a task of its own, one batch at a time). :class:`IncrementalMatcher` then, per offer:

* already in a product: its entry is refreshed (price, title, last change, cheapest);
* else: the products sharing a lookup key are its candidates (read once for the whole batch, and
  kept by revision between batches: ``looqta.match.products.BatchView`` / ``CandidateCache``);
  ``placement.place`` plans where it goes: the product it joins (or none: it starts a product of
  its own, id ``engine.new_product_id``, deterministic), and offers of its site to take out of
  their products first (each then starts a product of its own);
* once the batch is placed, each product it started is looked at again: another process may have
  started a product for the same thing meanwhile (neither saw the other). If ``engine.assign`` now
  picks that one, the two are merged into the one with the lower id; both processes, seeing the
  same pair, converge on it. Cost and design: docs/store.md ("Reading the candidates").

Every write is conditional on the product's ``version`` (``looqta.match.products``): a write lost to
another process is redone from a fresh read. A batch that still fails is counted
(``looqta/match/failed``) and left for ``python -m looqta.match rebuild``; the offers are stored already.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Protocol

from looqta.match import engine, placement
from looqta.match.model import Offer
from looqta.match.offers import OfferReader, entry, to_offer
from looqta.match.products import (
    BatchView,
    ProductStore,
    match_record,
    product_document,
    valid_product_id,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from looqta.match.model import Match
    from looqta.match.products import Candidate

logger = logging.getLogger(__name__)

STATS_PREFIX = "looqta/match"
#: How often a write lost to another process is redone before the batch is left for the rebuild.
ATTEMPTS = 8


class StatsSink(Protocol):
    def inc_value(self, key: str, count: int = 1, start: int = 0) -> None: ...


class MatchConflict(RuntimeError):
    """A product kept changing under this process's writes."""


@dataclass
class MatchSummary:
    joined: int = 0  # offers that joined a product
    created: int = 0  # products started by an offer
    refreshed: int = 0  # offers already in a product: their entry updated
    merged: int = 0  # products merged into another after a race between processes
    detached: int = 0  # offers taken out of a product by a better (or as good) offer of their site
    conflicts: int = 0  # writes lost to another process (redone)
    failed: int = 0  # offers still contended after every try: left for the rebuild

    def count(self, stats: StatsSink) -> None:
        for name in (f.name for f in fields(self)):
            stats.inc_value(f"{STATS_PREFIX}/{name}", getattr(self, name))


def blocking_keys(entries: Iterable[dict[str, Any]]) -> set[str]:
    return {key for e in entries for key in engine.blocking_keys(to_offer(e))}


@dataclass(frozen=True)
class Started:
    """A product an offer of the batch started: looked at again once the whole batch is placed."""

    product_id: str
    offer: Offer
    keys: frozenset[str]


def revisions(candidates: dict[str, Candidate]) -> dict[str, str] | None:
    """The candidates' ids and revisions, to compare two lookups by; None when one has no revision."""
    found = {product_id: c.revision for product_id, c in candidates.items() if c.revision is not None}
    return found if len(found) == len(candidates) else None


class IncrementalMatcher:
    def __init__(self, reader: OfferReader, store: ProductStore, attempts: int = ATTEMPTS) -> None:
        self.reader = reader
        self.store = store
        self.attempts = attempts
        #: Told the entries of each batch's newly placed offers (the reconciler's ``touched``).
        self.on_placed: Callable[[list[dict[str, Any]]], None] | None = None

    async def match(self, keys: Iterable[str]) -> MatchSummary:
        """Place the stored offers ``keys`` (``site:source_id``) into products."""
        summary = MatchSummary()
        docs = await self.reader.by_keys(sorted(set(keys)))
        changes = await self.reader.last_changes(docs)
        entries = {key: entry(doc, changes.get(key)) for key, doc in sorted(docs.items())}
        held: dict[str, list[str]] = {}
        for product in await self.store.holding(entries):
            held[product["_id"]] = [key for key in product["offer_keys"] if key in entries]
        for product_id, keys_held in sorted(held.items()):
            fresh = {key: entries.pop(key) for key in keys_held}
            try:
                await self._refresh(product_id, fresh, summary)
            except MatchConflict as conflict:
                self._gave_up(conflict, len(fresh), summary)
        if entries:
            await self._place_batch(list(entries.values()), summary)
        return summary

    async def _place_batch(self, entries: list[dict[str, Any]], summary: MatchSummary) -> None:
        """Place offers no product holds: their candidates read once for the whole batch."""
        offers = [to_offer(e) for e in entries]
        lookup = {key for offer in offers for key in engine.lookup_keys(engine.blocking_keys(offer))}
        view = BatchView(await self.store.lookup(lookup))
        started: list[Started] = []
        for offer_entry in entries:
            try:
                await self._place(offer_entry, summary, view, started)
            except MatchConflict as conflict:
                self._gave_up(conflict, 1, summary)
        await self._recheck_batch(started, view, summary)
        if self.on_placed is not None:
            self.on_placed(entries)

    @staticmethod
    def _gave_up(conflict: MatchConflict, offers: int, summary: MatchSummary) -> None:
        """One contended offer (or product) does not stop the batch: it is left for the rebuild."""
        summary.failed += offers
        logger.warning("%s; left for `python -m looqta.match rebuild`", conflict)

    async def _refresh(
        self, product_id: str, fresh: dict[str, dict[str, Any]], summary: MatchSummary
    ) -> None:
        for _attempt in range(self.attempts):
            doc = await self.store.get(product_id)
            kept = {} if doc is None else {e["key"]: e for e in doc["offers"]}
            for key in [key for key in fresh if key not in kept]:  # moved meanwhile: place it anew
                await self._place(fresh.pop(key), summary)
            if doc is None or not fresh:
                return
            entries = list({**kept, **fresh}.values())
            new = product_document(product_id, entries, doc["matches"], blocking_keys(entries))
            if await self.store.replace(new, doc["version"]):
                summary.refreshed += len(fresh)
                return
            summary.conflicts += 1
        raise MatchConflict(f"product {product_id}: changed under every refresh")

    async def _place(
        self,
        offer_entry: dict[str, Any],
        summary: MatchSummary,
        view: BatchView | None = None,
        started: list[Started] | None = None,
    ) -> None:
        """Join the offer to a candidate or start its product. With a ``view`` (the batch's candidates,
        read once) the first try uses it and a product started is looked at again with the whole
        batch (``started``, :meth:`_recheck_batch`); without, every try reads the candidates."""
        offer = to_offer(offer_entry)
        keys = engine.blocking_keys(offer)
        taken: set[str] = set()  # ids whose insert failed: held by another product
        for attempt in range(self.attempts):
            if view is not None and attempt == 0:
                candidates = view.candidates(keys)
            else:
                found = await self.store.candidates(keys)
                if view is not None:
                    view.read(keys, found)
                candidates = {c.id: c for c in found}
            if any(offer.key in c.doc["offer_keys"] for c in candidates.values()):
                return  # placed meanwhile (a redelivered batch, or the other process merged it)
            plan = await asyncio.to_thread(placement.place, offer, _offers_of(candidates))
            current = await self._detach(plan.detach, candidates, view, summary)
            if current is not None and plan.product is not None and plan.match is not None:
                held = current[plan.product]
                doc = held.doc
                new = product_document(
                    plan.product,
                    [*doc["offers"], offer_entry],
                    [*doc["matches"], match_record(plan.match)],
                    [*doc["blocking_keys"], *keys],
                )
                if written := await self.store.replace(new, doc["version"]):
                    if view is not None:
                        view.wrote(written, held)
                    summary.joined += 1
                    return
            elif current is not None and (mine := await self._start(offer_entry, keys, taken, view)):
                summary.created += 1
                if view is not None and started is not None:
                    started.append(Started(mine.id, offer, keys))
                else:  # what it turned down: the candidates as this placement left them
                    await self._recheck(mine.id, offer, keys, revisions(current), summary)
                return
            summary.conflicts += 1
        raise MatchConflict(f"offer {offer.key}: its candidates changed under every try")

    async def _start(
        self, offer_entry: dict[str, Any], keys: Iterable[str], taken: set[str], view: BatchView | None
    ) -> Candidate | None:
        """Start the offer's own product (the product written), or None when the id was taken (added to
        ``taken``: the next try uses the id made unique by the offer's key)."""
        offer = to_offer(offer_entry)
        product_id = engine.new_product_id(offer)
        if product_id in taken:  # a product this offer does not belong to has that id
            product_id = f"{product_id}~{hashlib.sha256(offer.key.encode()).hexdigest()[:12]}"
        taken.add(product_id)
        if not valid_product_id(product_id):
            raise ValueError(f"the matcher gave {offer.key} the product id {product_id!r}")
        written = await self.store.insert(product_document(product_id, [offer_entry], [], keys))
        if not written:
            return None
        if view is not None:
            view.wrote(written, None)
        return written

    async def _detach(
        self,
        detach: tuple[tuple[str, str], ...],
        candidates: dict[str, Candidate],
        view: BatchView | None,
        summary: MatchSummary,
    ) -> dict[str, Candidate] | None:
        """Take each planned offer out of its product into one of its own (the reconciler may regroup
        it); the candidates as written, or None when a write was lost (the caller reads again)."""
        current = dict(candidates)
        for product_id, key in detach:
            held = current[product_id]
            [moved] = [e for e in held.doc["offers"] if e["key"] == key]
            # Its own product first, then out of the old one: a lost write leaves it in two products
            # for a moment (the started one is removed again), never in none.
            tried = {product_id}  # the id it leaves may be the one its offer would start
            started = await self._start(moved, engine.blocking_keys(to_offer(moved)), tried, view)
            started = started or await self._start(moved, engine.blocking_keys(to_offer(moved)), tried, view)
            if not started:
                return None
            written = await self.store.replace(without(held.doc, {key}), held.doc["version"])
            if not written:
                await self.store.delete(started.id, 1)
                return None
            if view is not None:
                view.wrote(written, held)
            current[product_id] = written
            current[started.id] = started  # started here: not another process's twin to merge with
            summary.detached += 1
        return current

    async def _assign(self, offer: Offer, candidates: dict[str, Candidate]) -> tuple[str, Match] | None:
        groups = _offers_of(candidates)
        # Scoring titles is CPU work: off the event loop.
        return await asyncio.to_thread(engine.assign, offer, groups) if groups else None

    async def _recheck(
        self,
        product_id: str,
        offer: Offer,
        keys: Iterable[str],
        rejected: dict[str, str] | None,
        summary: MatchSummary,
    ) -> None:
        """After starting ``product_id``: merge it with a product another process started meanwhile.

        ``rejected``: the revisions of the candidates ``engine.assign`` has just turned down; while
        the other candidates are exactly those, it would turn them down again, so it is not asked.
        """
        for _attempt in range(self.attempts):
            found = await self.store.candidates(keys)
            others = {other.id: other for other in found if other.id != product_id}
            now = revisions(others)
            if rejected is not None and now is not None and now.items() <= rejected.items():
                return  # nothing written or started since they were turned down
            choice = await self._assign(offer, others)
            if choice is None:
                return
            if await self._merge(product_id, choice[0], choice[1], summary):
                return
            summary.conflicts += 1
        raise MatchConflict(f"product {product_id}: could not be merged with its twin")

    async def _recheck_batch(self, started: list[Started], view: BatchView, summary: MatchSummary) -> None:
        """:meth:`_recheck` for every product the batch started, with one read made after all of them
        were written. ``engine.assign`` is asked only where a product written by another process
        since the batch's first read is among the candidates: otherwise they are the ones it turned
        down when the product was started. After a merge the rest are looked at one by one."""
        if not started:
            return
        lookup = {key for one in started for key in engine.lookup_keys(one.keys)}
        fresh = {c.id: c for c in await self.store.lookup(lookup)}
        merged = False
        for one in started:
            try:
                if merged:
                    await self._recheck(one.product_id, one.offer, one.keys, None, summary)
                    continue
                lookup = engine.lookup_keys(one.keys)
                others = {pid: c for pid, c in fresh.items() if pid != one.product_id and lookup & c.keys}
                if not any(view.foreign(c) for c in others.values()):
                    continue
                choice = await self._assign(one.offer, others)
                if choice is None:
                    continue
                merged = True
                if not await self._merge(one.product_id, choice[0], choice[1], summary):
                    summary.conflicts += 1
                    await self._recheck(one.product_id, one.offer, one.keys, None, summary)
            except MatchConflict as conflict:
                self._gave_up(conflict, 1, summary)

    async def _merge(self, one: str, other: str, match: Match, summary: MatchSummary) -> bool:
        """Move every offer of the higher id into the lower; False when a write was lost (retry)."""
        target_id, source_id = sorted((one, other))
        target, source = await self.store.get(target_id), await self.store.get(source_id)
        if target is None or source is None:
            return True  # the other process merged them first
        entries = [*target["offers"], *source["offers"]]
        matches = [*target["matches"], *source["matches"], match_record(match)]
        new = product_document(
            target_id, entries, matches, [*target["blocking_keys"], *source["blocking_keys"]]
        )
        if not await self.store.replace(new, target["version"]):
            return False
        await self._drop(source_id, set(new["offer_keys"]))
        summary.merged += 1
        return True

    async def _drop(self, product_id: str, moved: set[str]) -> None:
        """Remove the ``moved`` offers from a product (deleting it when nothing is left)."""
        for _attempt in range(self.attempts):
            doc = await self.store.get(product_id)
            if doc is None:
                return
            left = [e for e in doc["offers"] if e["key"] not in moved]
            if not left:
                if await self.store.delete(product_id, doc["version"]):
                    return
                continue
            if await self.store.replace(without(doc, moved), doc["version"]):
                return
        raise MatchConflict(f"product {product_id}: its moved offers could not be removed")


def _offers_of(candidates: dict[str, Candidate]) -> dict[str, list[Offer]]:
    return {product_id: list(found.offers) for product_id, found in sorted(candidates.items())}


def without(doc: dict[str, Any], moved: set[str]) -> dict[str, Any]:
    """The product ``doc`` without the offers ``moved`` (and the matches that named them)."""
    left = [e for e in doc["offers"] if e["key"] not in moved]
    kept = {e["key"] for e in left}
    matches = [m for m in doc["matches"] if m["left"] in kept and m["right"] in kept]
    return product_document(doc["_id"], left, matches, blocking_keys(left))
