"""The resource throttle against the sandbox: an outside CPU hog, memory over 2,000 pages, a sweep.

    .venv/bin/python -m benchmarks.throttle hog    [--hog-percent 60] [--hog-seconds 20] [--max-pages 5]
    .venv/bin/python -m benchmarks.throttle memory [--pages 2000] [--recycle-after-pages 500]
    .venv/bin/python -m benchmarks.throttle sweep  [--workload noon|site-limit] [--levels 4,8,16,32]

Every crawl is a real ``scrapy crawl`` / ``runspider`` process against a sandbox started here
(loopback only), measured from outside; every run has a hard timeout.

* ``hog`` (issue 4, 7a): the noon spider with ``-a details=1`` (query "samsung": the search
  pages, then every product's page, all over plain HTTP; each item's image through the files
  pipeline; 200 ms of sandbox latency per request, site and CDN) runs once with fixed concurrency
  and once with the throttle. ``--hog-delay-seconds`` into the crawl, one duty-cycled busy loop per
  core (``--hog-percent`` of each core) runs for ``--hog-seconds``. Reported: mean system CPU
  while the hog runs, items lost, items/s over the 5 s before the hog, how long after the hog
  stops the 5-second throughput is back to 80 % of that, and the product pages left for it
  (``recovery_measurable``: at least two 5-second spans' worth; a crawl that ends with the hog
  has nothing to recover) with the crawl's timeline (product pages per 5 s). ``--max-pages``
  stops the crawl after that many search pages (24 products each; a smoke run).

  Until the spiders changed, this crawl rendered every listing page in Chromium (noon's listing
  was a JavaScript app) and fetched product pages over HTTP, each with a datasheet PDF: the
  browser was part of the load the throttle had to shed. The spider now reads noon's
  server-rendered search pages, and noon's product pages carry no documents, so the crawl runs
  no browser and downloads images only: its load is Scrapy's parsing, the image downloads and
  the sandbox. ``--render-mode browser`` (``LOOQTA_RENDER_MODE``) puts a browser back, but for
  every page (search and product pages alike), a heavier crawl than the old one. Results from
  before the change are not comparable.
* ``memory`` (7b): ``tests/spiders/rendered_pages.py`` renders ``--pages`` amazon product pages
  (each waits for the page's "Product guides and documents" PDF link, as it once waited for the
  old product page's datasheet link);
  the PSS of the crawl's process tree (Scrapy, Playwright driver, Chromium) is read every few
  seconds with the number of pages rendered so far. Reported: mean PSS over pages 7.5-12.5 %
  (page 200 of 2,000) and over the last 10 % of pages, and the peak.
  The CPU and loop-lag limits are lifted (``--max-cpu-percent``) so that the run measures memory,
  not how slowly a CPU-bound render runs at the minimum concurrency.
* ``sweep`` (7c): one workload at each fixed concurrency of ``--levels``, and with the throttle
  (maximum = the largest level) starting at its maximum and starting at 1, interleaved over
  ``--rounds``. AutoThrottle is off unless ``--autothrottle`` (with it on, its per-site delay,
  not the concurrency, sets the rate from 8 up). Reported: items/s over the crawl (Scrapy's
  ``elapsed_time_seconds``), 429s, medians, and the throttle's median over the best fixed
  level's. Workloads (``--workload``):

  - ``noon``: the noon crawl of ``hog`` without a hog (``--max-pages`` search pages). Each search
    page is requested once the one before it is read (noon's listing has no "next" link; the
    spider stops at an empty page), and this serial chain sets the pace from 8 up, so the levels
    barely differ. Before the spiders changed the chain's pages were rendered in Chromium;
    ``--render-mode browser`` renders every page;
  - ``site-limit``: ``tests/spiders/product_pages.py``, ``--pages`` amazon product pages over
    HTTP, all known at the start, each variant for ``--seconds`` (``CLOSESPIDER_TIMEOUT``),
    against a site that answers in ``--latency-ms`` and 429 (with
    ``Retry-After: --retry-after-seconds``) past ``--site-max-in-flight`` requests at once, as a
    rate-limiting site or WAF does. Below the limit each level's rate is ~level / latency; past
    it, 429s hold the site's slot and cost retries. The machine's CPU stays low.

The machine may be shared: each run first reports the CPU the machine used in the 3 s before it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from scrapy.utils.project import get_project_settings

from looqta.sandbox.client import SandboxProcess
from looqta.sandbox.profile import SANDBOX_SETTINGS

ROOT = Path(__file__).resolve().parents[1]
EXTENSION = "looqta.throttle.extension.ThrottleExtension"
RUN_TIMEOUT_SECONDS = 900
LATENCY_MS = 200
#: Under this the crawl's tree is only Scrapy: the browser has not started or has closed.
SHUTDOWN_PSS_MIB = 150
QUERY = "samsung"
#: ``LOOQTA_RENDER_MODE`` values (``looqta.render.middleware.MODES``).
RENDER_MODES = ("adaptive", "http", "browser")
#: The throughput the recovery after the hog is measured against: over this many seconds before it.
BEFORE_HOG_SECONDS = 5
HOG_SCRIPT = """
import sys, time
share, end = float(sys.argv[1]), time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    busy_until = time.monotonic() + 0.1 * share
    while time.monotonic() < busy_until:
        pass
    time.sleep(0.1 * (1 - share))
"""


def throttle_settings(**extra: Any) -> dict[str, Any]:
    extensions = {**get_project_settings().getdict("EXTENSIONS"), EXTENSION: 100}
    return {"EXTENSIONS": extensions, "LOOQTA_THROTTLE_ENABLED": True, **extra}


def fixed_settings(concurrency: int) -> dict[str, Any]:
    """A fixed concurrency: the resource throttle off (the project turns it on by default)."""
    return {
        "LOOQTA_THROTTLE_ENABLED": False,
        "CONCURRENT_REQUESTS": concurrency,
        "DOWNLOAD_SLOTS": {
            "noon": {"concurrency": concurrency, "delay": 0.0, "jitter": 0.0},
            "amazon": {"concurrency": concurrency, "delay": 0.0, "jitter": 0.0},
        },
    }


def setting_args(settings: dict[str, Any]) -> list[str]:
    args: list[str] = []
    for name, value in settings.items():
        text = json.dumps(value) if isinstance(value, (dict, list, bool)) else str(value)
        args += ["-s", f"{name}={text}"]
    return args


def background_cpu(seconds: float = 3.0) -> float:
    psutil.cpu_percent(interval=None)
    time.sleep(seconds)
    return psutil.cpu_percent(interval=None)


@dataclass
class Run:
    label: str
    seconds: float = 0.0
    items: int = 0
    stats: dict[str, Any] = field(default_factory=dict)
    cpu: list[tuple[float, float]] = field(default_factory=list)  #: (time, system CPU %)
    memory: list[tuple[int, float]] = field(default_factory=list)  #: (pages rendered, tree PSS MiB)
    started: float = 0.0
    background_cpu: float = 0.0

    def stat(self, key: str) -> Any:
        return self.stats.get(key)


def tree_pss_mib(pid: int) -> float:
    root = psutil.Process(pid)
    total = 0
    for process in [root, *root.children(recursive=True)]:
        try:
            total += process.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue  # exited between the listing and the reading
    return total / (1024 * 1024)


def crawl(
    label: str,
    command: list[str],
    settings: dict[str, Any],
    workdir: Path,
    *,
    on_tick: Any = None,
    memory_of: Any = None,
    memory_every_seconds: float = 3.0,
) -> Run:
    """Run one crawl process; sample the machine's CPU every 0.5 s (and the tree's PSS)."""
    run = Run(label, background_cpu=background_cpu())
    feed, stats_file, log = (
        workdir / f"{label}.json",
        workdir / f"{label}.stats.json",
        workdir / f"{label}.log",
    )
    all_settings = {**SANDBOX_SETTINGS, "LOG_LEVEL": "INFO", "LOOQTA_STATS_FILE": str(stats_file), **settings}
    full = [sys.executable, "-m", "scrapy", *command, "-O", str(feed), *setting_args(all_settings)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    psutil.cpu_percent(interval=None)
    with log.open("w") as stderr:
        run.started = time.time()
        process = subprocess.Popen(full, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
        next_memory = 0.0
        try:
            while process.poll() is None:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{label}: no end after {RUN_TIMEOUT_SECONDS} s")
                time.sleep(0.5)
                now = time.time()
                run.cpu.append((now - run.started, psutil.cpu_percent(interval=None)))
                if on_tick is not None:
                    on_tick(now - run.started)
                if memory_of is not None and time.monotonic() >= next_memory:
                    next_memory = time.monotonic() + memory_every_seconds
                    with contextlib.suppress(psutil.NoSuchProcess):  # the crawl just ended
                        run.memory.append((memory_of(), tree_pss_mib(process.pid)))
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    run.seconds = time.time() - run.started
    if process.returncode != 0:
        raise RuntimeError(f"{label}: exit code {process.returncode}, see {log}")
    run.items = len(json.loads(feed.read_text())) if feed.exists() and feed.stat().st_size else 0
    run.stats = json.loads(stats_file.read_text()) if stats_file.exists() else {}
    return run


def noon_command(sandbox: SandboxProcess, max_pages: int | None = None) -> list[str]:
    """The noon crawl: its search pages, then (``details=1``) every product's page."""
    command = [
        "crawl",
        "noon",
        "-a",
        f"q={QUERY}",
        "-a",
        f"base_url={sandbox.url('noon')}",
        "-a",
        "details=1",
    ]
    return command + (["-a", f"max_pages={max_pages}"] if max_pages else [])


def noon_latency(sandbox: SandboxProcess) -> None:
    """The noon site and its CDN (the product images) both answer in :data:`LATENCY_MS`."""
    for origin in ("noon", "noon-cdn"):
        sandbox.set_faults(origin, latency_ms=LATENCY_MS)


def product_times(sandbox: SandboxProcess, started: float) -> list[float]:
    """When each product page (``/uae-en/<slug>/<SKU>/p/``) was answered, in seconds since the crawl
    started."""
    return sorted(r["t"] - started for r in sandbox.requests("noon") if r["path_qs"].endswith("/p/"))


def five_second_counts(times: list[float]) -> list[int]:
    """How many of ``times`` fell in each 5-second span from 0: the crawl's timeline."""
    counts = [0] * (int(max(times, default=0.0) // 5) + 1)
    for t in times:
        counts[int(t // 5)] += 1
    return counts


# (a) an outside CPU hog ------------------------------------------------------------------------


def hog_benchmark(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    render = {"LOOQTA_RENDER_MODE": args.render_mode}
    with SandboxProcess(sites=("noon",)) as sandbox:
        noon_latency(sandbox)
        expected = None
        variants = {
            "fixed": {**fixed_settings(args.concurrency), **render},
            "throttle": {
                **fixed_settings(args.concurrency),
                **render,
                **throttle_settings(LOOQTA_THROTTLE_MAX_CONCURRENCY=args.concurrency),
            },
        }
        for label, settings in variants.items():
            sandbox.clear_requests()
            hogs: list[subprocess.Popen[bytes]] = []

            def start_hog(elapsed: float, hogs: list[subprocess.Popen[bytes]] = hogs) -> None:
                if not hogs and elapsed >= args.hog_delay_seconds:
                    hogs.extend(
                        subprocess.Popen(
                            [
                                sys.executable,
                                "-c",
                                HOG_SCRIPT,
                                str(args.hog_percent / 100),
                                str(args.hog_seconds),
                            ]
                        )
                        for _ in range(psutil.cpu_count() or 1)
                    )

            try:
                command = noon_command(sandbox, args.max_pages)
                run = crawl(f"hog-{label}", command, settings, workdir, on_tick=start_hog)
            finally:
                for hog in hogs:
                    hog.kill()
                    hog.wait()
            times = product_times(sandbox, run.started)
            expected = expected or run.items
            hog_from, hog_to = args.hog_delay_seconds, args.hog_delay_seconds + args.hog_seconds
            during = [cpu for at, cpu in run.cpu if hog_from + 1 <= at <= hog_to]
            # The rate just before the hog (the first seconds are the crawl's start).
            before = [t for t in times if hog_from - BEFORE_HOG_SECONDS <= t < hog_from]
            rate_before = len(before) / BEFORE_HOG_SECONDS
            recovered = None
            # A crawl that fetched nothing before the hog (a slow start) has no rate to recover.
            for start in range(int(hog_to), int(run.seconds) - 4 if rate_before > 0 else 0):
                if sum(1 for t in times if start <= t < start + 5) / 5 >= 0.8 * rate_before:
                    recovered = start + 5 - hog_to
                    break
            # Recovery is measurable only with a few seconds' work left when the hog stops.
            after = sum(1 for t in times if t >= hog_to)
            results[label] = {
                "background_cpu_percent": run.background_cpu,
                "items": run.items,
                "seconds": round(run.seconds, 1),
                "mean_cpu_percent_during_hog": round(statistics.fmean(during), 1) if during else None,
                "items_per_second_before_hog": round(rate_before, 2),
                "seconds_to_80_percent_throughput_after_hog": recovered,
                "products_after_hog": after,
                "recovery_measurable": rate_before > 0 and after >= 2 * 5 * 0.8 * rate_before,
                "products_per_5_seconds": five_second_counts(times),
                "throttle_level_min": run.stat("looqta/throttle/level/min"),
                "throttle_pauses": run.stat("looqta/throttle/pause"),
                "throttle_paused_seconds": run.stat("looqta/throttle/paused_seconds"),
            }
            print(label, json.dumps(results[label]), flush=True)
    results["items_lost_with_throttle"] = results["fixed"]["items"] - results["throttle"]["items"]
    return results


# (b) memory over many rendered pages --------------------------------------------------------------


def memory_benchmark(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with SandboxProcess(sites=("amazon",)) as sandbox:
        base = {
            **fixed_settings(args.concurrency),
            "LOOQTA_THROTTLE_MAX_CPU_PERCENT": args.max_cpu_percent,
            "LOOQTA_THROTTLE_MAX_LOOP_LAG_MS": 60_000,
        }
        variants = {
            "throttle": throttle_settings(LOOQTA_THROTTLE_RECYCLE_AFTER_PAGES=args.recycle_after_pages)
        }
        if args.compare:
            variants["no-recycling"] = throttle_settings(LOOQTA_THROTTLE_RECYCLE_AFTER_PAGES=0)
        for label, settings in variants.items():
            sandbox.clear_requests()

            def rendered() -> int:
                return sum(1 for r in sandbox.requests("amazon") if r["path_qs"].startswith("/dp/"))

            command = [
                "runspider",
                "tests/spiders/rendered_pages.py",
                "-a",
                f"amazon={sandbox.url('amazon')}",
                "-a",
                f"pages={args.pages}",
                "-a",
                f"leak_mib={args.leak_mib}",
            ]
            run = crawl(f"memory-{label}", command, {**base, **settings}, workdir, memory_of=rendered)
            # Readings of a crawl shutting down (its browser gone) say nothing of its memory.
            readings = [(pages, mib) for pages, mib in run.memory if mib >= SHUTDOWN_PSS_MIB]
            early = [mib for pages, mib in readings if 0.075 * args.pages <= pages <= 0.125 * args.pages]
            late = [mib for pages, mib in readings if 0.9 * args.pages <= pages < args.pages]
            results[label] = {
                "background_cpu_percent": run.background_cpu,
                "pages": run.items,
                "seconds": round(run.seconds, 1),
                "tree_pss_mib_near_10_percent": round(statistics.fmean(early)) if early else None,
                "tree_pss_mib_at_end": round(statistics.fmean(late)) if late else None,
                "tree_pss_mib_max": round(max(mib for _, mib in readings)) if readings else None,
                "recycles": run.stat("looqta/throttle/recycle"),
                "readings": [(pages, round(mib)) for pages, mib in readings],
            }
            ratio = (
                results[label]["tree_pss_mib_at_end"] / results[label]["tree_pss_mib_near_10_percent"]
                if early and late
                else None
            )
            results[label]["end_over_10_percent"] = round(ratio, 2) if ratio else None
            print(label, json.dumps({k: v for k, v in results[label].items() if k != "readings"}), flush=True)
    return results


# (c) the sweep -----------------------------------------------------------------------------------


def sweep_workload(args: argparse.Namespace, sandbox: SandboxProcess) -> list[str]:
    """Set the sandbox up for the sweep's workload; the crawl command."""
    if args.workload == "noon":
        noon_latency(sandbox)
        return noon_command(sandbox, args.max_pages)
    # site-limit: the site answers in --latency-ms and 429 past --site-max-in-flight at once
    sandbox.set_faults(
        "amazon",
        latency_ms=args.latency_ms,
        max_in_flight=args.site_max_in_flight,
        retry_after=args.retry_after_seconds,
        path_prefix="/dp/",
    )
    return [
        "runspider",
        "tests/spiders/product_pages.py",
        "-a",
        f"amazon={sandbox.url('amazon')}",
        "-a",
        f"pages={args.pages}",
    ]


def sweep_benchmark(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    levels = [int(level) for level in args.levels.split(",")]
    top = max(levels)
    # AutoThrottle off unless asked; the noon crawl's render mode.
    common: dict[str, Any] = {} if args.autothrottle else {"AUTOTHROTTLE_ENABLED": False}
    if args.workload == "noon":
        common["LOOQTA_RENDER_MODE"] = args.render_mode
    variants: dict[str, dict[str, Any]] = {
        f"fixed-{level}": {**fixed_settings(level), **common} for level in levels
    }
    variants["throttle-from-max"] = {
        **fixed_settings(top),
        **common,
        **throttle_settings(LOOQTA_THROTTLE_MAX_CONCURRENCY=top, LOOQTA_THROTTLE_START_CONCURRENCY=top),
    }
    variants["throttle-from-1"] = {
        **fixed_settings(top),
        **common,
        **throttle_settings(LOOQTA_THROTTLE_MAX_CONCURRENCY=top, LOOQTA_THROTTLE_START_CONCURRENCY=1),
    }
    if args.workload == "site-limit":  # every variant crawls for the same time
        for settings in variants.values():
            settings["CLOSESPIDER_TIMEOUT"] = args.seconds
    if args.variants:
        chosen = args.variants.split(",")
        unknown = sorted(set(chosen) - set(variants))
        if unknown:
            raise SystemExit(f"unknown --variants {', '.join(unknown)}; known: {', '.join(variants)}")
        variants = {label: variants[label] for label in chosen}
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label in variants}
    labels = list(variants)
    site = "noon" if args.workload == "noon" else "amazon"
    with SandboxProcess(sites=(site,)) as sandbox:
        command = sweep_workload(args, sandbox)
        for round_no in range(args.rounds):
            shift = round_no % len(labels)  # the order rotates from round to round
            for label in labels[shift:] + labels[:shift]:
                sandbox.clear_requests()
                run = crawl(f"sweep-{label}", command, variants[label], workdir)
                elapsed = run.stat("elapsed_time_seconds") or run.seconds
                row = {
                    "round": round_no + 1,
                    "background_cpu_percent": run.background_cpu,
                    "items": run.items,
                    "items_per_second": round(run.items / elapsed, 2),
                    "answered_429": run.stat("downloader/response_status_count/429") or 0,
                    "mean_cpu_percent": round(statistics.fmean(cpu for _, cpu in run.cpu), 1)
                    if run.cpu
                    else None,
                    "throttle_level_last": run.stat("looqta/throttle/level"),
                    "throttle_level_min": run.stat("looqta/throttle/level/min"),
                    "throttle_level_max": run.stat("looqta/throttle/level/max"),
                }
                runs[label].append(row)
                print(label, json.dumps(row), flush=True)
    results: dict[str, Any] = {"workload": args.workload, "runs": runs}
    medians = {label: statistics.median(r["items_per_second"] for r in rows) for label, rows in runs.items()}
    results["median_items_per_second"] = medians
    fixed = {label: rate for label, rate in medians.items() if label.startswith("fixed-")}
    if fixed:
        best = max(fixed, key=lambda label: fixed[label])
        results["best_fixed"] = best
        for label in ("throttle-from-max", "throttle-from-1"):
            if label in medians:
                results[f"{label}_over_best_fixed"] = round(medians[label] / fixed[best], 3)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.throttle", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    hog = commands.add_parser("hog", help="(a) an outside CPU hog during a crawl")
    hog.add_argument("--concurrency", type=int, default=16)
    hog.add_argument("--hog-percent", type=float, default=60.0, help="of each core")
    hog.add_argument("--hog-delay-seconds", type=float, default=10.0)
    hog.add_argument("--hog-seconds", type=float, default=20.0)
    hog.add_argument("--max-pages", type=int, help="search pages (24 products each); default: all")
    memory = commands.add_parser("memory", help="(b) the tree's memory over many rendered pages")
    memory.add_argument("--pages", type=int, default=2000)
    memory.add_argument("--concurrency", type=int, default=4)
    memory.add_argument("--recycle-after-pages", type=int, default=500)
    memory.add_argument("--leak-mib", type=int, default=0, help="per page, kept by the context")
    memory.add_argument("--max-cpu-percent", type=float, default=100.0)
    memory.add_argument("--compare", action="store_true", help="also run without recycling")
    sweep = commands.add_parser("sweep", help="(c) fixed concurrencies against the throttle")
    sweep.add_argument("--workload", choices=("noon", "site-limit"), default="noon")
    sweep.add_argument("--levels", default="4,8,16,32")
    sweep.add_argument("--max-pages", type=int, default=25, help="noon: search pages (24 products each)")
    sweep.add_argument("--pages", type=int, default=10_000, help="site-limit: product pages at most")
    sweep.add_argument("--seconds", type=int, default=40, help="site-limit: each crawl's length")
    sweep.add_argument("--latency-ms", type=int, default=100, help="site-limit: the site's answer time")
    sweep.add_argument(
        "--site-max-in-flight", type=int, default=12, help="site-limit: requests answered at once"
    )
    sweep.add_argument("--retry-after-seconds", type=int, default=1, help="site-limit: on its 429s")
    sweep.add_argument("--rounds", type=int, default=2, help="interleaved rounds; medians are reported")
    sweep.add_argument(
        "--variants",
        help="run only these, comma-separated (fixed-N, throttle-from-max, throttle-from-1): e.g. the "
        "throttle variants of another commit, to set beside a full sweep",
    )
    sweep.add_argument(
        "--autothrottle",
        action="store_true",
        help="keep Scrapy's AutoThrottle on (its per-site delay then caps every level alike)",
    )
    for command in (hog, sweep):
        command.add_argument(
            "--render-mode",
            choices=RENDER_MODES,
            default="adaptive",
            help="the noon crawl's LOOQTA_RENDER_MODE: adaptive (plain HTTP against the sandbox), "
            "http, or browser (every page rendered)",
        )
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    benchmark = {"hog": hog_benchmark, "memory": memory_benchmark, "sweep": sweep_benchmark}[args.command]
    with tempfile.TemporaryDirectory(prefix="looqta-throttle-bench-") as workdir:
        results = benchmark(args, Path(workdir))
    text = json.dumps(results, indent=1)
    if args.out:
        args.out.write_text(text)
    print(
        text
        if args.command != "memory"
        else json.dumps(
            {k: {kk: vv for kk, vv in v.items() if kk != "readings"} for k, v in results.items()}, indent=1
        )
    )


if __name__ == "__main__":
    main()
