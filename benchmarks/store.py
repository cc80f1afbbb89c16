"""Store benchmark: items/s through MongoPipeline, bulk vs one by one, and event-loop lag meanwhile.

    .venv/bin/python benchmarks/store.py [--items 5000] [--one-by-one-items 1000] [--batch-size 500]
                                         [--outage-seconds 30] [--uri mongodb://...]

Without ``--uri`` a throwaway SecantusDB (``python -m looqta.store.embedded``) runs on
a free loopback port with its storage in a temporary directory. Items go through
``MongoPipeline.process_item`` exactly as in a crawl (validation, dedup, batching);
while they do, a probe asks the event loop for a call every 10 ms and records how
late each one runs: that delay is what the rest of the crawl would wait.

Rows:
  baseline: idle loop         the probe alone for 5 s: the machine's own scheduling noise
  bulk, new products          first crawl: every item an insert
  bulk, re-crawl              same items again, a quarter with a new price
  one by one                  LOOQTA_STORE_BATCH_SIZE=1
  reference: blocking pymongo the same bulk writes with the synchronous client called on the
                              loop (what the pipeline must not do), to show what the lag would be
  outage                      (--outage-seconds N) items arrive at a steady rate; the server is stopped
                              for N s and restarted; every item must be stored once
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pymongo import MongoClient
from scrapy.utils.test import get_crawler

from looqta.items import ProductItem
from looqta.pipelines.store import MongoPipeline
from looqta.store.embedded import ForegroundServer

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

PROBE_INTERVAL_SECONDS = 0.01


@dataclass
class Result:
    name: str
    items: int
    seconds: float
    lags: list[float]
    note: str = ""

    def row(self) -> str:
        lags = sorted(self.lags) or [0.0]
        p50 = statistics.median(lags) * 1000
        p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))] * 1000
        return (
            f"| {self.name} | {self.items} | {self.seconds:.2f} | {self.items / self.seconds:,.0f} "
            f"| {p50:.2f} | {p99:.2f} | {lags[-1] * 1000:.1f} | {self.note} |"
        )


Server = ForegroundServer  # a server the benchmark can stop and restart (the outage run)


def item(number: int, price: Decimal | None = None) -> ProductItem:
    return ProductItem(
        source="amazon",
        source_id=f"B{number:09d}",
        title=f"Apple iPhone {number % 7 + 11} Pro {number % 4 + 1}28GB colour {number}",
        price=price if price is not None else Decimal(1000 + number % 500) + Decimal("0.99"),
        currency="AED",
        rating=Decimal("4.4"),
        review_count=number,
        url=f"https://www.amazon.ae/dp/B{number:09d}",
        image_urls=[f"https://m.media-amazon.com/images/I/{number}.jpg"],
        scraped_at="2026-01-01T00:00:00+00:00",
        job="bulk",
    )


async def probed(work: Callable[[], Coroutine[Any, Any, None]]) -> tuple[float, list[float]]:
    """Run ``work`` while a 10 ms probe records how late the loop runs it; (seconds, lags)."""
    lags: list[float] = []
    done = asyncio.Event()

    async def probe() -> None:
        expected = time.perf_counter() + PROBE_INTERVAL_SECONDS
        while not done.is_set():
            await asyncio.sleep(max(0.0, expected - time.perf_counter()))
            now = time.perf_counter()
            lags.append(now - expected)
            expected = max(expected + PROBE_INTERVAL_SECONDS, now)

    probing = asyncio.create_task(probe())
    started = time.perf_counter()
    await work()
    seconds = time.perf_counter() - started
    done.set()
    await probing
    return seconds, lags


def pipeline_for(uri: str, database: str, spool: Path, batch_size: int) -> tuple[MongoPipeline, Any]:
    crawler = get_crawler(
        settings_dict={
            "MONGO_URI": uri,
            "MONGO_DATABASE": database,
            "LOOQTA_STORE_SPOOL_DIR": str(spool),
            "LOOQTA_STORE_BATCH_SIZE": batch_size,
            "LOOQTA_STORE_FLUSH_INTERVAL_SECONDS": 1.0,
            "LOOQTA_STORE_CONNECT_TIMEOUT_SECONDS": 2.0,
            "LOOQTA_STORE_RETRY_MAX_SECONDS": 2.0,
        }
    )
    crawler.stats.open_spider()
    return MongoPipeline.from_crawler(crawler), crawler


async def through_pipeline(
    name: str, uri: str, database: str, spool: Path, items: list[ProductItem], batch_size: int
) -> Result:
    pipeline, crawler = pipeline_for(uri, database, spool, batch_size)
    await pipeline.open_spider()

    async def work() -> None:
        for entry in items:
            await pipeline.process_item(entry)
            await asyncio.sleep(0)  # items arrive one by one, as responses are parsed
        await pipeline.close_spider()

    seconds, lags = await probed(work)
    written = crawler.stats.get_value("looqta/store/written", 0)
    changes = crawler.stats.get_value("looqta/store/price_changes", 0)
    return Result(name, len(items), seconds, lags, f"written {written}, price changes {changes}")


async def blocking_reference(uri: str, database: str, items: list[ProductItem], batch_size: int) -> Result:
    """The pipeline's own bulk upserts sent with the synchronous client, on the loop (do not do this)."""
    from itemadapter import ItemAdapter
    from pymongo import ASCENDING

    from looqta.store.documents import to_document
    from looqta.store.repository import _upsert_operations

    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    products = client[database].offers
    products.create_index([("source", ASCENDING), ("source_id", ASCENDING)], unique=True)

    async def work() -> None:
        for start in range(0, len(items), batch_size):
            docs = [
                to_document(ItemAdapter(entry), max_field_bytes=16384, max_document_bytes=1 << 20)
                for entry in items[start : start + batch_size]
            ]
            operations = _upsert_operations(docs, uuid.uuid4().hex, datetime.now(UTC))
            products.bulk_write(operations, ordered=False)  # holds the loop for the whole write
            await asyncio.sleep(0)

    try:
        seconds, lags = await probed(work)
    finally:
        client.close()
    return Result("reference: blocking pymongo on the loop", len(items), seconds, lags, "not the pipeline")


async def idle(seconds: float) -> Result:
    """The probe alone: how late a 10 ms call runs on this machine with nothing to do."""
    measured, lags = await probed(lambda: asyncio.sleep(seconds))
    return Result("baseline: idle loop", 0, measured, lags, "machine noise, no writes")


async def outage(server: Server, spool: Path, outage_seconds: float, rate: float) -> Result:
    database = f"bench_{uuid.uuid4().hex[:8]}"
    pipeline, crawler = pipeline_for(server.uri, database, spool, 100)
    await pipeline.open_spider()
    lead, tail = 5.0, 5.0
    total = int((lead + outage_seconds + tail) * rate)
    loop = asyncio.get_running_loop()

    async def work() -> None:
        started = time.perf_counter()
        stopped = restarted = False
        for number in range(total):
            at = started + number / rate
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            elapsed = time.perf_counter() - started
            if not stopped and elapsed >= lead:
                await loop.run_in_executor(None, server.stop)
                stopped = True
            if stopped and not restarted and elapsed >= lead + outage_seconds:
                await loop.run_in_executor(None, server.start)
                restarted = True
            await pipeline.process_item(item(number))
        await pipeline.close_spider()

    seconds, lags = await probed(work)
    client: MongoClient[dict[str, Any]] = MongoClient(server.uri)
    try:
        stored = client[database].offers.count_documents({})
        distinct = len(client[database].offers.distinct("source_id"))
    finally:
        client.close()
    stats = crawler.stats
    note = (
        f"server down {outage_seconds:.0f} s; spooled {stats.get_value('looqta/store/spooled', 0)}, "
        f"replayed {stats.get_value('looqta/store/replayed', 0)}; stored {stored} of {total}, "
        f"{distinct} distinct"
    )
    return Result(f"outage ({rate:.0f} items/s offered)", total, seconds, lags, note)


async def run(args: argparse.Namespace, server: Server | None, workdir: Path) -> list[Result]:
    uri = args.uri or (server.uri if server else "")
    spool = workdir / "spool"
    results = [await idle(5.0)]
    database = f"bench_{uuid.uuid4().hex[:8]}"
    first = [item(n) for n in range(args.items)]
    results.append(await through_pipeline("bulk, new products", uri, database, spool, first, args.batch_size))
    again = [item(n, Decimal(7) if n % 4 == 0 else None) for n in range(args.items)]
    results.append(await through_pipeline("bulk, re-crawl", uri, database, spool, again, args.batch_size))
    single = [item(n) for n in range(args.one_by_one_items)]
    results.append(
        await through_pipeline("one by one (batch size 1)", uri, f"{database}_single", spool, single, 1)
    )
    results.append(await blocking_reference(uri, f"{database}_blocking", first, args.batch_size))
    if args.outage_seconds > 0:
        if server is None:
            print("(--outage-seconds needs the benchmark's own server: leave out --uri)", file=sys.stderr)
        else:
            results.append(await outage(server, spool, args.outage_seconds, args.outage_rate))
    client: MongoClient[dict[str, Any]] = MongoClient(uri)
    try:
        for name in client.list_database_names():
            if name.startswith(database):
                client.drop_database(name)
    finally:
        client.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uri", default="", help="an existing server (default: a throwaway SecantusDB)")
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--one-by-one-items", type=int, default=1000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--outage-seconds", type=float, default=0.0)
    parser.add_argument("--outage-rate", type=float, default=200.0, help="items/s offered in the outage run")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="looqta-bench-") as tmp:
        workdir = Path(tmp)
        server = None
        if not args.uri:
            server = Server(workdir / "mongo")
            server.start()
        try:
            results = asyncio.run(run(args, server, workdir))
        finally:
            if server is not None:
                server.stop()
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    python = sys.version.split()[0]
    print(
        f"store benchmark: {args.items} items, batch size {args.batch_size}, Python {python}, "
        f"{os.cpu_count()} CPUs, load average {load}"
    )
    print("| run | items | seconds | items/s | loop lag p50 ms | p99 ms | max ms | notes |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for result in results:
        print(result.row())
    return 0


if __name__ == "__main__":
    sys.exit(main())
