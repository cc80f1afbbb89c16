"""Incremental matching through the store (issue 21): stored offers into products, new path beside the old.

    .venv/bin/python -m benchmarks.matching_store [--offers 500] [--batch-size 50] [--json out.json]

Two sets of ``--offers`` offers each:

* ``one-token``: amazon listings titled "Galaxy S24 <n>": every offer shares the lookup key
  ``lm:galaxy:s24`` and starts a product of its own (as hundreds of "case for Galaxy S24" listings do);
  what made the store path grow with the square of the products sharing a key.
* ``world``: the sandbox world's listings, half amazon, half noon (``Catalogue(site, offers / 2, 1234)``,
  titles and prices), as the crawls store them.

Two paths over the same offers, batches and server, each into a database of its own:

* ``batch`` (:class:`IncrementalMatcher` as it is): a batch's candidates read once (ids and revisions,
  then in full only the products not cached at that revision), one more read for the batch's look-again.
* ``per-offer`` (:class:`PerOffer` on :class:`FullReads`): the path before: every offer reads every
  candidate in full, and again after starting a product.

The offers are written to ``offers`` first (not timed), then their keys go through ``matcher.match`` in
batches of ``--batch-size`` (the store writer's batch). Reported per set and path: seconds, offers a
second, products, candidate products read in full, and whether both paths made the same products (the
engine's decisions must not change); after the batch path, one run of the reconciler over every offer
(``looqta.match.reconcile``, what a crawl's close does): its seconds, the offers it regrouped and the
products it wrote and removed. The server is the embedded SecantusDB (one Python process on this
host, started as the tests start it); production runs MongoDB, whose reads cost less per document.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bson.decimal128 import Decimal128
from pymongo import AsyncMongoClient

from benchmarks.cli import git, positive
from looqta.match.incremental import IncrementalMatcher, MatchConflict, MatchSummary
from looqta.match.offers import OfferReader
from looqta.match.products import Candidate, CandidateCache, ProductStore
from looqta.match.reconcile import Reconciler
from looqta.sandbox.catalogue import Catalogue
from looqta.store.config import StoreConfig
from looqta.store.embedded import ForegroundServer

if TYPE_CHECKING:
    from collections.abc import Iterable

    from pymongo.asynchronous.database import AsyncDatabase

SEED = 1234
SETS = ("one-token", "world")
PATHS = ("per-offer", "batch")


class FullReads(ProductStore):
    """The candidate read before the cache: every candidate product in full on every lookup. The
    revisions are kept, so that the look-again after starting a product decides as the batch path
    does (undoing a pair, ``placement.place``, writes products the old path's look-again would
    otherwise take for another process's)."""

    async def lookup(self, keys: Iterable[str]) -> list[Candidate]:
        keys = sorted(set(keys))
        if not keys:
            return []
        found = [Candidate.of(doc) async for doc in self.products.find({"blocking_keys": {"$in": keys}})]
        self.read_in_full += len(found)
        return found


class PerOffer(IncrementalMatcher):
    """The placing before the batch view: each offer reads its candidates itself, and reads them again
    after starting a product (:meth:`IncrementalMatcher._recheck`)."""

    async def _place_batch(self, entries: list[dict[str, Any]], summary: MatchSummary) -> None:
        for offer_entry in entries:
            try:
                await self._place(offer_entry, summary)
            except MatchConflict as conflict:
                self._gave_up(conflict, 1, summary)


def offers(name: str, count: int) -> list[dict[str, Any]]:
    """``count`` offers as the store keeps them (the fields the matcher reads)."""
    seen = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    if name == "one-token":
        rows = [("amazon", f"B{n:09d}", f"Galaxy S24 {n}", Decimal(1000 + n)) for n in range(count)]
    else:
        half = count // 2
        listed = [
            p for site, size in (("amazon", count - half), ("noon", half)) for p in _listings(site, size)
        ]
        rows = [(p.site, p.source_id, p.title, p.price) for p in listed]
    return [
        {
            "source": site,
            "source_id": source_id,
            "title": title,
            "price": Decimal128(price),
            "currency": "AED",
            "url": f"http://127.0.0.1/{site}/{source_id}",
            "seen_at": seen,
        }
        for site, source_id, title, price in rows
    ]


def _listings(site: str, size: int) -> list[Any]:
    return Catalogue(site, size, SEED).products if size else []


async def one_run(
    database: AsyncDatabase[dict[str, Any]], docs: list[dict[str, Any]], path: str, batch_size: int
) -> dict[str, Any]:
    await database.offers.insert_many([dict(doc) for doc in docs])
    if path == "batch":
        store = ProductStore(database, CandidateCache())
        matcher = IncrementalMatcher(OfferReader(database), store)
    else:
        store = FullReads(database, CandidateCache(size=0))
        matcher = PerOffer(OfferReader(database), store)
    await store.ensure_indexes()
    keys = [f"{doc['source']}:{doc['source_id']}" for doc in docs]
    summary = MatchSummary()
    started, cpu = time.perf_counter(), time.process_time()
    for at in range(0, len(keys), batch_size):
        done = await matcher.match(keys[at : at + batch_size])
        for name in vars(summary):
            setattr(summary, name, getattr(summary, name) + getattr(done, name))
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    products = [sorted(doc["offer_keys"]) async for doc in database.products.find({}, {"offer_keys": 1})]
    reconciled = await _reconcile(store, database) if path == "batch" else None
    return {
        "seconds": round(seconds, 2),
        "offers_per_second": round(len(keys) / seconds, 1),
        "client_cpu_seconds": round(cpu_seconds, 2),
        "products": len(products),
        "read_in_full": store.read_in_full,
        "summary": vars(summary),
        "groups": sorted(products),
        "reconcile": reconciled,
    }


async def _reconcile(store: ProductStore, database: AsyncDatabase[dict[str, Any]]) -> dict[str, Any]:
    """One reconciler run over every offer just matched (what the crawl's close does after them)."""
    reconciler = Reconciler(store, interval_seconds=0, max_offers=StoreConfig().match_reconcile_max_offers)
    reconciler.touched([e async for doc in database.products.find({}) for e in doc["offers"]])
    started = time.perf_counter()
    summary = await reconciler.run()
    return {"seconds": round(time.perf_counter() - started, 2), **vars(summary)}


async def run(uri: str, count: int, batch_size: int) -> dict[str, Any]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True)
    results: dict[str, Any] = {}
    try:
        for name in SETS:
            docs = offers(name, count)
            results[name] = {}
            for path in PATHS:
                log(f"{name}: {len(docs)} offers, {path}")
                database = client[f"bench_{name.replace('-', '_')}_{path.replace('-', '_')}"]
                await client.drop_database(database.name)
                try:
                    results[name][path] = await one_run(database, docs, path, batch_size)
                finally:
                    await client.drop_database(database.name)
            groups = [results[name][path].pop("groups") for path in PATHS]
            results[name]["same_products"] = groups[0] == groups[1]
    finally:
        await client.close()
    return results


def table(result: dict[str, Any]) -> str:
    lines = [
        "| set | path | offers | seconds | offers/s | client CPU s | products | read in full "
        "| then reconciled: s, offers, products written / removed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name in SETS:
        for path in PATHS:
            r = result["sets"][name][path]
            rc = r["reconcile"]
            reconciled = (
                ""
                if rc is None
                else (f"{rc['seconds']} s, {rc['offers']}, {rc['created'] + rc['updated']} / {rc['removed']}")
            )
            lines.append(
                f"| {name} | {path} | {result['offers']} | {r['seconds']} | {r['offers_per_second']} | "
                f"{r['client_cpu_seconds']} | {r['products']} | {r['read_in_full']} | {reconciled} |"
            )
    same = ", ".join(f"{name}: {result['sets'][name]['same_products']}" for name in SETS)
    return "\n".join([*lines, "", f"same products on both paths: {same}"])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.matching_store",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--offers", type=positive, default=500, help="offers in each set")
    parser.add_argument("--batch-size", type=positive, default=50, help="offers a match call (the writer's)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.offers < 2:
        parser.error(f"--offers: must be >= 2, got {args.offers}")
    if args.json is not None and not args.json.parent.is_dir():
        parser.error(f"--json: no directory {args.json.parent}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="looqta-bench-") as workdir:
        server = ForegroundServer(Path(workdir) / "store").start()
        try:
            sets = asyncio.run(run(server.uri, args.offers, args.batch_size))
        finally:
            server.stop()
    result = {
        "benchmark": "matching_store",
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": git("rev-parse", "--short", "HEAD"),
        "offers": args.offers,
        "batch_size": args.batch_size,
        "load_average_before": load_before,
        "load_average_at_end": os.getloadavg(),
        "sets": sets,
    }
    print(table(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
