"""The search service against a cold ``scrapy crawl`` per site, cache hits, saturation (issue 20 point 8).

    .venv/bin/python -m benchmarks.search [--queries 5] [--latency-ms 300] [--slow-latency-ms 1000]
        [--cache-requests 2000] [--cache-clients 50] [--cache-rate 200] [--saturation-seconds 60]
        [--json out.json]

Everything on 127.0.0.1: one sandbox (both sites; ``--latency-ms`` before every answer of amazon,
``--slow-latency-ms`` of noon, through its faults API), an embedded ``redis-server`` in a temporary
directory, a warm crawler per site (``looqta.serve.sandboxed.warm_crawlers``, as ``--sandbox`` starts
them) and ``python -m looqta.serve`` in its own process. Both sides crawl with the same settings: the
sandbox profile, ``--max-pages`` result pages, the validation and dedup pipelines only (no store, no
files), the resource throttle and metrics endpoint off, ``LOG_LEVEL=DEBUG``.

1. **Warm vs cold**, ``--queries`` distinct queries (cache misses), the two sides alternating which goes
   first: the service's SSE (``/api/search``, httpx streaming) timed from the request to the first
   ``offer``, each ``site-done`` and ``done``; against both sites' ``scrapy crawl SITE -a q=...``
   started at once, timed from the start to the first ``Scraped from`` log line (stderr, a line per
   item at DEBUG) and to each process's exit. Each warm search's timeline per site (pushed, taken,
   at the site, answered, first offer in the stream and read by the client; benchmarks/search_timeline.py).
2. **Cache hits**: ``GET /api/search.json`` of a cached query by benchmarks.hitload, a light load
   generator in its own process, pinned to CPU 1 with the service pinned to CPU 0 while it runs
   (``--no-pin``: neither): ``--cache-requests`` on ``--cache-clients`` kept-alive connections in a
   closed loop (throughput), then the same at a fixed offered rate ``--cache-rate`` (latency from when
   each request was due; the goal is judged here), then up to 200 on one connection alone. Every
   body must be the same cached document.
3. **Saturation**: ``--saturation-clients`` clients each submitting distinct queries to
   ``/api/search.json`` for ``--saturation-seconds``, more than ``--max-in-flight``; a client answered
   429 waits ``--retry-pause`` seconds and submits its next query. Searches per minute are the 200s
   finished in the window.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx

from benchmarks.cli import git, positive
from benchmarks.search_timeline import median_timeline, timeline
from benchmarks.search_timeline import table as timeline_table
from looqta.redisstore.server import ensure_server, stop_server
from looqta.sandbox.catalogue import Catalogue, tokenize
from looqta.sandbox.client import SandboxProcess
from looqta.sandbox.profile import SANDBOX_SETTINGS
from looqta.serve.sandboxed import warm_crawlers

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[1]
SITES = ("amazon", "noon")
GOAL_FIRST_OFFER_SHARE = 0.3
GOAL_FIRST_OFFER_SECONDS = 1.5
GOAL_CACHE_P99_MS = 20.0
#: The cache-hit load generator's CPU and the service's, with ``--pin`` (on machines with 2+ CPUs).
SERVICE_CPU, LOAD_CPU = 0, 1
#: Queries with products in the sandbox's catalogue; a run uses the first ``--queries``.
QUERIES = (
    "usb charger",
    "camera",
    "speaker",
    "watch",
    "headphones",
    "laptop",
    "tv",
    "keyboard",
    "monitor",
    "tablet",
    "mouse",
    "printer",
)
#: Searched once, unmeasured, before the runs: the warm crawlers read each site's robots.txt then.
WARM_UP_QUERY = "iphone"
SERVICE_START_SECONDS = 60.0


def crawl_settings(max_pages: int) -> dict[str, Any]:
    """The settings of every crawl, warm and cold alike."""
    return {
        **SANDBOX_SETTINGS,
        "ITEM_PIPELINES": {
            "looqta.pipelines.validate.ValidationPipeline": 100,
            "looqta.pipelines.dedup.DedupPipeline": 150,
        },
        "LOOQTA_FILES_ENABLED": False,
        "LOOQTA_THROTTLE_ENABLED": False,
        "LOOQTA_METRICS_ENABLED": False,
        "LOG_LEVEL": "DEBUG",
        "LOOQTA_SEARCH_MAX_PAGES": max_pages,
    }


def setting_args(settings: dict[str, Any]) -> list[str]:
    args: list[str] = []
    for name, value in settings.items():
        args += ["-s", f"{name}={json.dumps(value) if isinstance(value, (dict, list, bool)) else value}"]
    return args


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))]


def saturation_queries(products: int) -> list[str]:
    """Distinct queries with offers on the sandbox's amazon (and mostly noon): each product title's
    first 3, 4 and 5 words (about 490 at 10,000 products)."""
    titles = [tokenize(product.title) for product in Catalogue("amazon", products).products]
    queries = dict.fromkeys(" ".join(words[:k]) for k in (3, 4, 5) for words in titles if len(words) >= k)
    return [q for q in queries if q not in QUERIES and q != WARM_UP_QUERY]


# --- the parts ---------------------------------------------------------------------------------


@contextlib.contextmanager
def redis_server(data_dir: Path) -> Iterator[str]:
    try:
        yield ensure_server(data_dir).url
    finally:
        stop_server(data_dir)


@contextlib.contextmanager
def service(
    redis_url: str, args: argparse.Namespace, env: dict[str, str], log: Path
) -> Iterator[tuple[str, int]]:
    """``python -m looqta.serve`` on a free loopback port (its own process); its base URL and pid."""
    settings = {
        "REDIS_URL": redis_url,
        "LOOQTA_SEARCH_SITES": ",".join(SITES),
        "LOOQTA_SEARCH_MAX_PAGES": args.max_pages,
        "LOOQTA_SEARCH_MAX_IN_FLIGHT": args.max_in_flight,
        "LOOQTA_SEARCH_SITE_TIMEOUT_SECONDS": args.timeout,
    }
    command = [sys.executable, "-m", "looqta.serve", "--port", "0", *setting_args(settings)]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=out, start_new_session=True
        )
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + SERVICE_START_SECONDS
        url = ""
        while not url:
            line = process.stdout.readline().decode()
            if not line or time.monotonic() > deadline:
                raise RuntimeError(f"the service did not start; see {log}")
            if match := re.search(r"on (http://\S+?)/?$", line.strip()):
                url = match.group(1)
        threading.Thread(target=process.stdout.read, daemon=True).start()  # drain
        while not healthy(url):
            time.sleep(0.1)
        yield url, process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=5).status_code == 200
    except httpx.TransportError:  # the port is printed just before uvicorn listens on it
        return False


def warm_search(base: str, query: str, timeout: float) -> dict[str, Any]:
    """One search through the service's SSE: seconds from the request to each event that matters
    (and, for its timeline, the wall clock of the request and of each site's first offer and ending)."""
    run: dict[str, Any] = {"side": "warm", "query": query, "offers": 0, "site_done": {}, "site_failed": {}}
    reads: dict[str, dict[str, float]] = {}
    # The client is made before the clock starts: building an httpx.Client (its SSL context) took
    # ~20 ms, which the first benchmark counted as the service's.
    with httpx.Client(timeout=httpx.Timeout(timeout)) as client:
        run["wall_started"], run["wall_reads"] = time.time(), reads
        started = time.monotonic()
        with client.stream("GET", f"{base}/api/search", params={"q": query}) as response:
            read_events(response, run, started, query)
    return run


def read_events(response: httpx.Response, run: dict[str, Any], started: float, query: str) -> None:
    """A warm search's SSE read into ``run`` until ``done``."""
    fields: dict[str, str] = {}
    reads = run["wall_reads"]
    if response.status_code != 200:
        raise RuntimeError(f"warm {query!r}: HTTP {response.status_code} {response.read()[:300]!r}")
    for line in response.iter_lines():
        if line.startswith(":"):
            continue
        if line:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
            continue
        if not fields:
            continue
        event, data = fields.get("event", "message"), json.loads(fields.get("data") or "null")
        fields = {}
        at = time.monotonic() - started
        if event in ("offer", "site-done"):
            reads.setdefault(data["site"], {}).setdefault(event, time.time())
        if event == "search":
            run["cache"], run["search_id"] = data.get("cache"), data.get("id")
        elif event == "offer":
            run["offers"] += 1
            run.setdefault("first_offer", at)
        elif event == "site-done":
            run["site_done"][data["site"]] = at
        elif event == "site-failed":
            run["site_failed"][data["site"]] = data.get("reason")
            run["site_done"][data["site"]] = at
        elif event == "done":
            run["all_done"] = at
            break


def cold_search(urls: dict[str, str], query: str, args: argparse.Namespace, env: dict[str, str]) -> dict:
    """Both sites' ``scrapy crawl SITE -a q=query`` started at once; first item and exit per site."""
    run: dict[str, Any] = {"side": "cold", "query": query, "offers": 0, "site_done": {}, "site_failed": {}}
    firsts: list[float] = []
    lock = threading.Lock()
    settings = crawl_settings(args.max_pages)
    settings.pop("LOOQTA_SEARCH_MAX_PAGES")

    def watch(site: str, process: subprocess.Popen[bytes], started: float) -> None:
        assert process.stderr is not None
        items = 0
        tail: list[str] = []
        for raw in process.stderr:
            line = raw.decode(errors="replace")
            if "Scraped from <" in line:
                with lock:
                    firsts.append(time.monotonic() - started)
                items += 1
            tail = [*tail[-30:], line]
        code = process.wait()
        with lock:
            run["site_done"][site] = time.monotonic() - started
            run["offers"] += items
            if code != 0:
                run["site_failed"][site] = f"exit {code}: {''.join(tail)[-1500:]}"

    threads = []
    started = time.monotonic()
    for site in SITES:
        command = [sys.executable, "-m", "scrapy", "crawl", site, "-a", f"q={query}"]
        command += ["-a", f"max_pages={args.max_pages}", "-a", f"base_url={urls[site]}"]
        if f"{site}-cdn" in urls:
            command += ["-a", f"cdn_url={urls[f'{site}-cdn']}"]
        command += setting_args(settings)
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        thread = threading.Thread(target=watch, args=(site, process, started), daemon=True)
        thread.start()
        threads.append((thread, process))
    for thread, process in threads:
        thread.join(args.timeout * 4)
        if thread.is_alive():
            process.kill()
            raise RuntimeError(f"cold {query!r}: a crawl ran past {args.timeout * 4:.0f} s")
    if firsts:
        run["first_offer"] = min(firsts)
    run["all_done"] = max(run["site_done"].values())
    return run


def cache_hits(base: str, query: str, args: argparse.Namespace, *, clients: int, rate: float = 0.0) -> dict:
    """``args.cache_requests`` GETs of a cached query's ``search.json`` by benchmarks.hitload in its own
    process (pinned to the CPU the service is not on, with ``--pin``): latency in ms, bodies checked."""
    url = f"{base}/api/search.json?{urlencode({'q': query})}"
    command = [sys.executable, "-m", "benchmarks.hitload", url, "--clients", str(clients)]
    command += ["--requests", str(args.cache_requests if clients > 1 else min(200, args.cache_requests))]
    command += ["--rate", str(rate)] + (["--cpu", str(LOAD_CPU)] if args.pin else [])
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"hitload failed: {done.stderr[-2000:]}")
    result = json.loads(done.stdout)
    reference = result["reference"] or {}
    same = result["statuses"].get("200", 0) - result["differing_bodies"]
    return result | {"cache_states": {reference.get("cache", "none"): same} if same else {}}


@contextlib.contextmanager
def pinned(pid: int, enabled: bool) -> Iterator[None]:
    """The service on ``SERVICE_CPU`` alone while it is measured (the load generator on ``LOAD_CPU``)."""
    if not enabled:
        yield
        return
    before = os.sched_getaffinity(pid)
    os.sched_setaffinity(pid, {SERVICE_CPU})
    try:
        yield
    finally:
        os.sched_setaffinity(pid, before)


async def saturation(base: str, args: argparse.Namespace) -> dict[str, Any]:
    """Distinct searches from more clients than the in-flight limit, for ``--saturation-seconds``."""
    counts = {"submitted": 0, "ok": 0, "ok_in_window": 0, "refused_429": 0, "other": 0}
    seconds: list[float] = []
    offers: list[int] = []
    serial = 0
    queries = saturation_queries(args.products)
    started = time.monotonic()
    deadline = started + args.saturation_seconds

    async def client_loop(client: httpx.AsyncClient) -> None:
        nonlocal serial
        while time.monotonic() < deadline:
            serial += 1
            # Past the list's end: still distinct, but with no offers.
            query = (
                queries[serial - 1]
                if serial <= len(queries)
                else f"{queries[serial % len(queries)]} {serial}"
            )
            counts["submitted"] += 1
            sent = time.monotonic()
            response = await client.get(f"{base}/api/search.json", params={"q": query})
            if response.status_code == 200:
                counts["ok"] += 1
                if time.monotonic() <= deadline:
                    counts["ok_in_window"] += 1
                seconds.append(time.monotonic() - sent)
                offers.append(len(response.json().get("offers", [])))
            elif response.status_code == 429:
                counts["refused_429"] += 1
                await asyncio.sleep(args.retry_pause)
            else:
                counts["other"] += 1

    limits = httpx.Limits(max_connections=args.saturation_clients)
    async with httpx.AsyncClient(limits=limits, timeout=args.timeout * 2) as client:
        await asyncio.gather(*(client_loop(client) for _ in range(args.saturation_clients)))
    window = args.saturation_seconds
    return {
        **counts,
        "clients": args.saturation_clients,
        "max_in_flight": args.max_in_flight,
        "window_seconds": window,
        "wall_seconds": time.monotonic() - started,
        "searches_per_minute": counts["ok_in_window"] * 60 / window,
        "share_429": counts["refused_429"] / counts["submitted"] if counts["submitted"] else 0.0,
        "search_seconds_p50": statistics.median(seconds) if seconds else None,
        "distinct_queries_with_offers": len(queries),
        "offers_per_search_mean": statistics.mean(offers) if offers else None,
    }


# --- the report --------------------------------------------------------------------------------


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    for side in ("warm", "cold"):
        mine = [r for r in runs if r["side"] == side]
        row: dict[str, Any] = {
            "searches": len(mine),
            "failed_sites": sum(len(r["site_failed"]) for r in mine),
        }
        for key, values in (
            ("first_offer", [r.get("first_offer") for r in mine]),
            *((f"{site}_done", [r["site_done"].get(site) for r in mine]) for site in SITES),
            ("all_done", [r.get("all_done") for r in mine]),
            ("first_offer_share_of_all_done", [share(r) for r in mine]),
        ):
            present = [v for v in values if v is not None]
            row[key] = statistics.median(present) if present else None
            row[f"{key}_range"] = [min(present), max(present)] if present else None
        row["offers_median"] = statistics.median(r["offers"] for r in mine) if mine else None
        summary[side] = row
    return summary


def share(run: dict[str, Any]) -> float | None:
    if run.get("first_offer") is None or not run.get("all_done"):
        return None
    return run["first_offer"] / run["all_done"]


def goals(
    summary: dict[str, dict[str, Any]], cache: dict[str, Any], fixed: dict[str, Any], runs: list[dict]
) -> dict[str, Any]:
    warm = [r for r in runs if r["side"] == "warm"]
    shares = [s for r in warm if (s := share(r)) is not None]
    firsts = [r["first_offer"] for r in warm if r.get("first_offer") is not None]
    return {
        "first_offer_share_of_slowest_site": {
            "median": summary["warm"]["first_offer_share_of_all_done"],
            "max": max(shares) if shares else None,
            "goal": f"<= {GOAL_FIRST_OFFER_SHARE:g}",
            "met": bool(shares) and len(shares) == len(warm) and max(shares) <= GOAL_FIRST_OFFER_SHARE,
        },
        "first_offer_seconds": {
            "median": summary["warm"]["first_offer"],
            "max": max(firsts) if firsts else None,
            "goal": f"<= {GOAL_FIRST_OFFER_SECONDS:g}",
            "met": bool(firsts) and len(firsts) == len(warm) and max(firsts) <= GOAL_FIRST_OFFER_SECONDS,
        },
        "cache_hit_p99_ms": {
            # Judged at a fixed offered rate (docs/BENCHMARKS.md says why); the closed loop's p99 is
            # its queue (Little's law) and is reported beside it.
            "value": fixed["p99_ms"],
            "clients": fixed["clients"],
            "offered_rate": fixed["offered_rate"],
            "closed_loop_p99_ms": cache["p99_ms"],
            "closed_loop_requests_per_second": cache["requests_per_second"],
            "goal": f"<= {GOAL_CACHE_P99_MS:g} at {fixed['offered_rate']:g}/s",
            "met": fixed["p99_ms"] <= GOAL_CACHE_P99_MS and all_hits(fixed) and all_hits(cache),
        },
    }


def all_hits(hits: dict[str, Any]) -> bool:
    """Every answer a 200 carrying the same cached document (a ``hit``)."""
    return set(hits["statuses"]) == {"200"} and hits["cache_states"] == {"hit": hits["requests"]}


def seconds_cell(row: dict[str, Any], key: str) -> str:
    value, spread = row.get(key), row.get(f"{key}_range")
    if value is None:
        return "–"
    return f"{value:.2f} ({spread[0]:.2f}–{spread[1]:.2f})"


def table(result: dict[str, Any]) -> str:
    summary = result["summary"]
    lines = [
        "| side | searches | first offer s | " + " | ".join(f"{s} done s" for s in SITES) + " | all done s "
        "| first offer / all done | offers (median) | failed sites |",
        "|---" * (7 + len(SITES)) + "|",
    ]
    for side, label in (("warm", "warm service (SSE, cache miss)"), ("cold", "cold `scrapy crawl` per site")):
        row = summary[side]
        cells = [label, str(row["searches"]), seconds_cell(row, "first_offer")]
        cells += [seconds_cell(row, f"{site}_done") for site in SITES]
        cells += [seconds_cell(row, "all_done"), seconds_cell(row, "first_offer_share_of_all_done")]
        cells += [f"{row['offers_median']:g}", str(row["failed_sites"])]
        lines.append("| " + " | ".join(cells) + " |")
    sat = result["saturation"]
    lines += [
        "",
        "| cache hits | load | requests | connections | p50 ms | p90 ms | p99 ms | max ms | req/s "
        "| statuses |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *(
            f"| `/api/search.json` | {cache['mode']} | {cache['requests']} | {cache['clients']} "
            f"| {cache['p50_ms']:.1f} | {cache['p90_ms']:.1f} | {cache['p99_ms']:.1f} "
            f"| {cache['max_ms']:.1f} | {cache['requests_per_second']:.0f} | {cache['statuses']} |"
            for cache in (
                result["cache_hits"],
                result["cache_hits_fixed_rate"],
                result["cache_hits_one_client"],
            )
        ),
        "",
        "Warm search timeline, median seconds from the request (benchmarks/search_timeline.py):",
        "",
        timeline_table(result["timeline_median"]),
        "",
        "| saturation | clients | max in flight | window s | submitted | 200 in window | 429 | other "
        "| searches/min | share 429 | search s p50 | offers/search |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        f"| distinct queries | {sat['clients']} | {sat['max_in_flight']} | {sat['window_seconds']:g} "
        f"| {sat['submitted']} | {sat['ok_in_window']} | {sat['refused_429']} | {sat['other']} "
        f"| {sat['searches_per_minute']:.0f} | {sat['share_429']:.0%} | "
        f"{fmt(sat['search_seconds_p50'])} | {fmt(sat.get('offers_per_search_mean'))} |",
        "",
    ]
    for name, goal in result["goals"].items():
        value = goal.get("value", goal.get("max"))
        shown = "–" if value is None else f"{value:.3g}"
        lines.append(f"- {name}: {shown} (goal {goal['goal']}): **{'met' if goal['met'] else 'not met'}**")
    return "\n".join(lines)


# --- the command line ------------------------------------------------------------------------


def not_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.search",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--queries", type=positive, default=5, help=f"distinct searches (<= {len(QUERIES)})")
    parser.add_argument("--latency-ms", type=int, default=300, help="amazon's latency per answer")
    parser.add_argument("--slow-latency-ms", type=int, default=1000, help="noon's latency per answer")
    parser.add_argument("--max-pages", type=positive, default=1, help="result pages per site and search")
    parser.add_argument("--products", type=positive, default=10_000, help="sandbox products per site")
    parser.add_argument("--cache-requests", type=positive, default=2000)
    parser.add_argument("--cache-clients", type=positive, default=50, help="kept-alive connections")
    parser.add_argument(
        "--cache-rate",
        type=positive,
        default=200,
        help="the fixed offered rate (hits/s) the goal is judged at",
    )
    parser.add_argument(
        "--no-pin", dest="pin", action="store_false", help="leave the service and the load generator unpinned"
    )
    parser.add_argument("--saturation-seconds", type=not_negative, default=60.0, help="0: skip")
    parser.add_argument("--saturation-clients", type=positive, default=16)
    parser.add_argument("--max-in-flight", type=positive, default=8, help="LOOQTA_SEARCH_MAX_IN_FLIGHT")
    parser.add_argument("--retry-pause", type=not_negative, default=0.5, help="a 429'd client's pause (s)")
    parser.add_argument("--timeout", type=positive, default=30, help="seconds a site may take per search")
    parser.add_argument("--keep-logs", type=Path, help="copy the crawlers' and service's logs here")
    parser.add_argument("--json", type=Path, help="also write the runs and the summary here")
    args = parser.parse_args(argv)
    args.pin = args.pin and len(os.sched_getaffinity(0)) >= 2
    if args.queries > len(QUERIES):
        parser.error(f"--queries: at most {len(QUERIES)}")
    if args.json is not None and not args.json.parent.is_dir():
        parser.error(f"--json: no directory {args.json.parent}")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    result: dict[str, Any] = {
        "benchmark": "benchmarks.search",
        "command": shlex.join([".venv/bin/python", "-m", "benchmarks.search", *argv]),
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted_changes": bool(git("status", "--porcelain")),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_at_start": os.getloadavg(),
        "latency_ms": {"amazon": args.latency_ms, "noon": args.slow_latency_ms},
        "max_pages": args.max_pages,
        "settings": crawl_settings(args.max_pages),
    }
    runs: list[dict[str, Any]] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="looqta-bench-search-") as tmp:
        work = Path(tmp)
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "LOOQTA_DATA_DIR": str(work / "data"),
        }
        try:
            with (
                redis_server(work / "redis") as redis_url,
                SandboxProcess(products=args.products) as sandbox,
            ):
                sandbox.set_faults("amazon", latency_ms=args.latency_ms)
                sandbox.set_faults("noon", latency_ms=args.slow_latency_ms)
                env["REDIS_URL"] = redis_url
                log("starting the warm crawlers and the service")
                with (
                    warm_crawlers(
                        SITES, sandbox.urls, redis_url, work / "logs", crawl_settings(args.max_pages), env
                    ),
                    service(redis_url, args, env, work / "logs" / "service.log") as (base, service_pid),
                ):
                    warm_up = warm_search(base, WARM_UP_QUERY, args.timeout * 2)
                    log(f"warm-up {WARM_UP_QUERY!r} (not counted): all done {fmt(warm_up.get('all_done'))} s")
                    result["warm_up"] = warm_up
                    for number, query in enumerate(QUERIES[: args.queries]):
                        order = ("warm", "cold") if number % 2 == 0 else ("cold", "warm")
                        for side in order:
                            if side == "warm":
                                run = warm_search(base, query, args.timeout * 2)
                            else:
                                run = cold_search(sandbox.urls, query, args, env)
                            runs.append(run)
                            log(
                                f"{side} {query!r}: first offer {fmt(run.get('first_offer'))} s, "
                                + ", ".join(f"{s} {fmt(run['site_done'].get(s))} s" for s in SITES)
                                + f", {run['offers']} offers, cache {run.get('cache', '-')}"
                                + (f", FAILED {run['site_failed']}" if run["site_failed"] else "")
                            )
                    result["timeline"] = [
                        timeline(
                            redis_url, {s: sandbox.requests(s) for s in SITES}, run, result["latency_ms"]
                        )
                        for run in runs
                        if run["side"] == "warm"
                    ]
                    log(f"cache hits: {args.cache_requests} requests on {args.cache_clients} connections")
                    with pinned(service_pid, args.pin):
                        cache = cache_hits(base, QUERIES[0], args, clients=args.cache_clients)
                        fixed = cache_hits(
                            base, QUERIES[0], args, clients=args.cache_clients, rate=args.cache_rate
                        )
                        single = cache_hits(base, QUERIES[0], args, clients=1)
                    log(
                        f"cache hits: closed loop p99 {cache['p99_ms']:.1f} ms "
                        f"at {cache['requests_per_second']:.0f}/s; "
                        f"at {args.cache_rate:g}/s p99 {fixed['p99_ms']:.1f} ms"
                    )
                    sat: dict[str, Any] = {"skipped": True}
                    if args.saturation_seconds > 0:
                        log(
                            f"saturation: {args.saturation_clients} clients for {args.saturation_seconds:g} s"
                        )
                        sat = asyncio.run(saturation(base, args))
        finally:
            if args.keep_logs is not None and (work / "logs").is_dir():
                args.keep_logs.mkdir(parents=True, exist_ok=True)
                for path in (work / "logs").iterdir():
                    (args.keep_logs / path.name).write_bytes(path.read_bytes())
    summary = summarise(runs)
    result |= {
        "wall_seconds": time.monotonic() - started,
        "load_average_at_end": os.getloadavg(),
        "summary": summary,
        "cache_hits": cache,
        "cache_hits_fixed_rate": fixed,
        "cache_hits_one_client": single,
        "timeline_median": median_timeline(result["timeline"]),
        "saturation": sat,
        "goals": goals(summary, cache, fixed, runs),
        "runs": runs,
    }
    if sat.get("skipped"):
        sat |= dict.fromkeys(
            (
                "clients",
                "max_in_flight",
                "window_seconds",
                "submitted",
                "ok_in_window",
                "refused_429",
                "other",
            ),
            0,
        ) | {"searches_per_minute": 0.0, "share_429": 0.0, "search_seconds_p50": None}
    print(table(result))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


def fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
