"""``python -m looqta.match rebuild``: every stored offer into products again (after a rule change).

Reads every offer and its price history, groups them with ``engine.group`` (the canonical grouping),
and makes ``products`` hold exactly those products: new ones created, changed ones replaced, the
ones no longer produced removed, the rest left alone. Idempotent: a second run changes nothing.
Writes are conditional on each product's ``version``: a product that incremental matching changed
meanwhile is left alone and counted as a conflict (run again). Progress goes to stderr.

Options as ``python -m looqta.store`` (``--uri``, ``--database``, ``--data-dir``, ``-s``).
Exit status: 0 done, 1 done but some products changed meanwhile (run again), 2 error.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from pymongo.errors import PyMongoError

from looqta.match import engine
from looqta.match.offers import OfferReader, entry, key_of, to_offer
from looqta.match.products import ProductStore, content, match_record, product_document, valid_product_id
from looqta.store.cli_options import add_store_options, check_store_options, load_config
from looqta.store.config import StoreConfigError
from looqta.store.connection import connect, describe
from looqta.store.embedded import EmbeddedServerError

if TYPE_CHECKING:
    from collections.abc import Callable

    from looqta.match.model import Offer, Product
    from looqta.store.config import StoreConfig

READ_BATCH = 1000


@dataclass
class RebuildSummary:
    offers: int = 0
    created: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    conflicts: int = 0

    def line(self) -> str:
        return (
            f"offers {self.offers}  created {self.created}  updated {self.updated}  "
            f"removed {self.removed}  unchanged {self.unchanged}  conflicts {self.conflicts}"
        )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m looqta.match rebuild", description="Match every stored offer into products again."
    )
    add_store_options(parser)
    parser.add_argument(
        "--progress-every", type=int, default=10_000, help="report progress every N offers / products"
    )
    args = parser.parse_args(argv)
    if args.progress_every < 1:
        parser.error("--progress-every must be >= 1")
    check_store_options(parser, args)
    return args


def wanted_products(entries: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The product documents ``engine.group`` makes of ``entries`` (CPU work: run it in a thread)."""
    offers: list[Offer] = [to_offer(e) for e in entries.values()]
    keys = {offer.key: engine.blocking_keys(offer) for offer in offers}
    grouped: list[Product] = engine.group(offers)
    wanted: dict[str, dict[str, Any]] = {}
    for product in grouped:
        if not valid_product_id(product.id) or product.id in wanted:
            raise ValueError(f"the matcher gave an invalid or repeated product id {product.id!r}")
        wanted[product.id] = product_document(
            product.id,
            [entries[key] for key in product.offers],
            [match_record(match) for match in product.matches],
            {key for offer_key in product.offers for key in keys[offer_key]},
        )
    return wanted


async def rebuild(config: StoreConfig, progress_every: int, say: Callable[[str], None]) -> RebuildSummary:
    summary = RebuildSummary()
    connection = await connect(config)
    try:
        database = connection.repository.database
        await connection.repository.migrate()
        reader, store = OfferReader(database), ProductStore(database)
        await store.ensure_indexes()
        docs: dict[str, dict[str, Any]] = {}
        async for batch in reader.batches(READ_BATCH):
            for doc in batch:
                docs[key_of(doc)] = doc
            if len(docs) // progress_every > (len(docs) - len(batch)) // progress_every:
                say(f"read {len(docs)} offers")
        summary.offers = len(docs)
        changes = await reader.last_changes()
        entries = {key: entry(doc, changes.get(key)) for key, doc in docs.items()}
        started = time.monotonic()
        wanted = await asyncio.to_thread(wanted_products, entries)
        say(
            f"grouped {len(entries)} offers into {len(wanted)} products in {time.monotonic() - started:.1f} s"
        )
        existing = await store.all()
        for done, (product_id, doc) in enumerate(sorted(wanted.items()), 1):
            await write_wanted(store, doc, existing.get(product_id), summary)
            if done % progress_every == 0:
                say(f"wrote {done} of {len(wanted)} products")
        for product_id in sorted(set(existing) - set(wanted)):
            if await store.delete(product_id, existing[product_id]["version"]):
                summary.removed += 1
            else:
                summary.conflicts += 1
    finally:
        await connection.close()
    return summary


class WriteCounts(Protocol):
    created: int
    updated: int
    unchanged: int
    conflicts: int


async def write_wanted(
    store: ProductStore, doc: dict[str, Any], old: dict[str, Any] | None, summary: WriteCounts
) -> None:
    """Make the store hold ``doc`` where it held ``old`` (None: nothing), conditionally; counted."""
    if old is None:
        if await store.insert(doc):
            summary.created += 1
        else:
            summary.conflicts += 1
    elif content(old) == doc:
        summary.unchanged += 1
    elif await store.replace(doc, old["version"]):
        summary.updated += 1
    else:
        summary.conflicts += 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = load_config(args)
        summary = asyncio.run(rebuild(config, args.progress_every, _err))
    except (StoreConfigError, EmbeddedServerError, ValueError) as error:
        _err(f"looqta.match rebuild: {error}")
        return 2
    except PyMongoError as error:
        _err(f"looqta.match rebuild: the store did not answer: {describe(error)}")
        return 2
    sys.stdout.write(summary.line() + "\n")
    if summary.conflicts:
        _err("Some products changed while rebuilding (matching ran at once): run again.")
        return 1
    return 0


def _err(text: str) -> None:
    """A line for the user on stderr (this module is a command-line entry point)."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


if __name__ == "__main__":
    sys.exit(main())
