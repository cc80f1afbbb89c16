"""A light HTTP/1.1 load generator for one URL (the search benchmark's cache hits), in its own process.

    .venv/bin/python -m benchmarks.hitload URL [--clients 50] [--requests 2000] [--rate 0] [--cpu N]

``--clients`` kept-alive connections, one request in flight on each. ``--rate 0``: a closed loop
(each connection sends its next request when the last one is answered: throughput, and a latency
that is the queue in front of the server). ``--rate R``: an open loop, request ``i`` due at
``i / R`` s, sent on the first free connection, its latency counted from when it was due (so a slow
server is not excused by sending less: no coordinated omission). ``--cpu N`` pins this process to
CPU N (``os.sched_setaffinity``), away from the server it measures.

Light on purpose: the request is bytes built once and a response is read by its ``Content-Length``
(no HTTP library). The first 200's body is checked as JSON (a cache ``hit`` with offers) and every
other body must equal it byte for byte, so the figures are for the same answer every time. Prints
one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))]


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    reference: bytes | None = None
    differing_bodies: int = 0

    def add(self, status: int, body: bytes, latency_ms: float) -> None:
        self.latencies_ms.append(latency_ms)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status != 200:
            return
        if self.reference is None:
            self.reference = body
        elif body != self.reference:
            self.differing_bodies += 1


class Connection:
    """One kept-alive connection that sends ``request`` and reads an answer by its length."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> None:
        self.reader, self.writer, self.request = reader, writer, request

    @classmethod
    async def open(cls, host: str, port: int, request: bytes) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, request)

    async def ask(self) -> tuple[int, bytes]:
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    def close(self) -> None:
        self.writer.close()


async def closed_loop(connections: list[Connection], requests: int, tally: Tally) -> None:
    left = requests

    async def client(connection: Connection) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            started = time.perf_counter()
            status, body = await connection.ask()
            tally.add(status, body, (time.perf_counter() - started) * 1000)

    await asyncio.gather(*(client(c) for c in connections))


async def open_loop(connections: list[Connection], requests: int, rate: float, tally: Tally) -> None:
    free: asyncio.Queue[Connection] = asyncio.Queue()
    for connection in connections:
        free.put_nowait(connection)
    pending: set[asyncio.Task[None]] = set()

    async def one(connection: Connection, due: float) -> None:
        status, body = await connection.ask()
        tally.add(status, body, (time.perf_counter() - due) * 1000)
        free.put_nowait(connection)

    start = time.perf_counter()
    for number in range(requests):
        due = start + number / rate
        if (wait := due - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        connection = await free.get()  # all busy: the wait counts, from ``due``
        task = asyncio.create_task(one(connection, due))
        pending.add(task)
        task.add_done_callback(pending.discard)
    await asyncio.gather(*pending)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    url = urlsplit(args.url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    target = url.path + (f"?{url.query}" if url.query else "")
    request = f"GET {target} HTTP/1.1\r\nHost: {url.netloc}\r\nAccept: */*\r\n\r\n".encode()
    connections = [await Connection.open(host, port, request) for _ in range(args.clients)]
    tally = Tally()
    for connection in connections:  # warm each connection up (not counted)
        await connection.ask()
    started = time.perf_counter()
    if args.rate > 0:
        await open_loop(connections, args.requests, args.rate, tally)
    else:
        await closed_loop(connections, args.requests, tally)
    wall = time.perf_counter() - started
    for connection in connections:
        connection.close()
    latencies = tally.latencies_ms
    return {
        "mode": f"open loop at {args.rate:g}/s" if args.rate > 0 else "closed loop",
        "offered_rate": args.rate or None,
        "requests": len(latencies),
        "clients": args.clients,
        "cpu": args.cpu,
        "statuses": tally.statuses,
        "reference": describe(tally.reference),
        "differing_bodies": tally.differing_bodies,
        "p50_ms": percentile(latencies, 0.50),
        "p90_ms": percentile(latencies, 0.90),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": max(latencies),
        "requests_per_second": len(latencies) / wall,
    }


def describe(body: bytes | None) -> dict[str, Any] | None:
    """The reference answer as JSON: its cache state and offer count (a check of what was measured)."""
    if body is None:
        return None
    document = json.loads(body)
    return {"cache": document["search"]["cache"], "offers": len(document["offers"]), "bytes": len(body)}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hitload", description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=0.0, help="requests per second; 0: closed loop")
    parser.add_argument("--cpu", type=int, help="pin this process to this CPU")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    print(json.dumps(asyncio.run(run(args))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
