"""Rendered pages side by side: looqta's page pool, scrapy-playwright, Crawlee, plain Scrapy HTTP.

    .venv/bin/python -m benchmarks.compare [--pages 100] [--rounds 3] [--bench-python .venv-bench/bin/python]

The same sandbox noon listing pages (client-side rendered, 24 products each;
the URLs of ``benchmarks/spiders/pages.py``) go through every variant in every
round, the variants' order rotating from round to round:

* ``looqta``        looqta's settings with the page pool (``PooledPlaywrightDownloadHandler``),
  the resource throttle off: uncapped, like every other variant;
* ``looqta-throttle`` the same with the resource throttle on (looqta's default: it keeps the
  machine's CPU under 80 %, so on this CPU-bound crawl it gives up throughput by design);
* ``looqta-nopool`` looqta's settings on scrapy-playwright's own handler (what the pool adds),
  the resource throttle off;
* ``sp-defaults``   a bare Scrapy project with scrapy-playwright, its defaults (1 context, 8 in flight);
* ``crawlee``       Crawlee for Python's ``PlaywrightCrawler`` with its defaults (in ``.venv-bench``,
  see ``benchmarks/requirements-bench.txt``);
* ``http``          plain Scrapy over HTTP, no rendering (gets the empty app shell): the ceiling.

Every run is its own process, measured from outside: pages/s over the crawl
(from the crawler's start to its end: browser start-up counts, interpreter
start-up does not), CPU ms per page over the whole process tree (crawler,
Playwright driver, every Chromium process; start-up included) and peak PSS of
the tree, sampled every 100 ms. Each browser is Debian's Chromium with the same
flags (``looqta.browser``). Loopback only; every run has a hard timeout.

This file is also the Crawlee worker (``crawlee-worker``), run by the Python of
``.venv-bench``, which has Crawlee and no Scrapy: the imports of project code
are therefore inside the functions that need them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SPIDER = ROOT / "benchmarks" / "spiders" / "pages.py"
DEFAULT_BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
RUN_TIMEOUT_SECONDS = 300
SAMPLE_INTERVAL_SECONDS = 0.1
#: Rendered variants must return every page with its products (benchmarks/spiders/pages.py).
LISTING_LOADED = '[data-qa="product-list"][data-state="loaded"]'
PRODUCT_BOX = '[data-qa="product-box"]'
BOXES_PER_PAGE = 24
#: How many renders may run at once in looqta's variants (2 cores: 4 pages is the knee).
LOOQTA_MAX_PAGES = 4
#: Requests Scrapy keeps in flight to the sandbox in looqta's variants (its slot for noon).
LOOQTA_CONCURRENCY = 8


def page_urls(noon: str, pages: int) -> list[str]:
    """The URLs of ``benchmarks/spiders/pages.py``: 50 listing pages of "sony", then again."""
    return [f"{noon}/__render__/listing?q=sony&page={i % 50 + 1}&n={i}" for i in range(pages)]


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    kind: str  # "scrapy" or "crawlee"
    render: str = "browser"
    #: Run inside the project (looqta.settings) or as a bare Scrapy project (Scrapy's defaults).
    project_settings: bool = False
    settings: dict[str, Any] = field(default_factory=dict)


def variants() -> list[Variant]:
    from looqta.sandbox.profile import SANDBOX_SETTINGS

    pooled = "looqta.pagepool.handler.PooledPlaywrightDownloadHandler"
    plain = "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"
    looqta = {
        **SANDBOX_SETTINGS,
        # the bench spider's pages are in the 127.0.0.1 slot: give it noon's sandbox concurrency
        "DOWNLOAD_SLOTS": {
            **SANDBOX_SETTINGS["DOWNLOAD_SLOTS"],
            "127.0.0.1": {"concurrency": LOOQTA_CONCURRENCY, "delay": 0.0, "jitter": 0.0},
        },
        "CONCURRENT_REQUESTS_PER_DOMAIN": LOOQTA_CONCURRENCY,
        "ROBOTSTXT_OBEY": False,
        "ITEM_PIPELINES": {},
        "LOOQTA_THROTTLE_ENABLED": False,
    }
    pool = {
        **looqta,
        "DOWNLOAD_HANDLERS": {"http": pooled, "https": pooled},
        "LOOQTA_PAGE_POOL_ENABLED": True,
        "LOOQTA_PAGE_POOL_MAX_PAGES": LOOQTA_MAX_PAGES,
    }
    return [
        Variant(
            "looqta",
            f"looqta, page pool ({LOOQTA_MAX_PAGES} pages), resource throttle off",
            "scrapy",
            project_settings=True,
            settings=pool,
        ),
        Variant(
            "looqta-throttle",
            f"looqta, page pool ({LOOQTA_MAX_PAGES} pages) + resource throttle (CPU <= 80 %)",
            "scrapy",
            project_settings=True,
            settings={**pool, "LOOQTA_THROTTLE_ENABLED": True},
        ),
        Variant(
            "looqta-nopool",
            "looqta settings, scrapy-playwright handler (no pool), throttle off",
            "scrapy",
            project_settings=True,
            settings={**looqta, "DOWNLOAD_HANDLERS": {"http": plain, "https": plain}},
        ),
        Variant(
            "sp-defaults",
            "scrapy-playwright 0.0.48 defaults (1 context, 8 in flight)",
            "scrapy",
            settings={
                "DOWNLOAD_HANDLERS": {"http": plain, "https": plain},
                "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
                "PLAYWRIGHT_LAUNCH_OPTIONS": chromium_launch_options(),
            },
        ),
        Variant("crawlee", "Crawlee 1.11 PlaywrightCrawler defaults", "crawlee"),
        Variant("http", "plain Scrapy HTTP (no rendering)", "scrapy", render="http"),
    ]


def chromium_launch_options() -> dict[str, Any]:
    """looqta's Chromium and flags (Debian's binary, offline, --no-sandbox as root), for every variant."""
    from scrapy.settings import Settings

    from looqta.browser import BrowserConfig

    settings = Settings()
    settings.setmodule("looqta.settings")
    return BrowserConfig.from_settings(settings).launch_options({})


# --- one measured run ------------------------------------------------------------------------


@dataclass
class RunResult:
    pages_per_s: float
    cpu_ms_per_page: float
    peak_pss_mib: float
    memory_kind: str
    #: How busy the machine was (all CPUs, %) in the second before the run: other work skews it.
    machine_busy_percent: float = 0.0


def settle(quiet_percent: float, max_wait_seconds: float) -> float:
    """Wait (at most ``max_wait_seconds``) for the machine to be under ``quiet_percent`` busy."""
    import psutil

    deadline = time.monotonic() + max_wait_seconds
    busy = psutil.cpu_percent(interval=1.0)
    while busy > quiet_percent and time.monotonic() < deadline:
        busy = psutil.cpu_percent(interval=1.0)
    return busy


def measured(command: list[str], cwd: Path, env: dict[str, str], what: str) -> tuple[str, Any]:
    """Run ``command`` in its own session, sampling its process tree; its stderr and usage."""
    from benchmarks.proctree import TreeSampler

    with tempfile.TemporaryFile(mode="w+") as stderr:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=stderr, start_new_session=True
        )
        try:
            with TreeSampler(process.pid, SAMPLE_INTERVAL_SECONDS) as sampler:
                process.wait(timeout=RUN_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the run's own session: crawler, driver, browser
            process.wait()
            raise RuntimeError(f"{what}: no result within {RUN_TIMEOUT_SECONDS} s") from None
        stderr.seek(0)
        log = stderr.read()
    if process.returncode != 0:
        raise RuntimeError(f"{what} failed ({process.returncode}):\n{log[-3000:]}")
    return log, sampler.usage


def run_scrapy(variant: Variant, noon: str, pages: int, tmp: Path) -> RunResult:
    feed, stats_file = tmp / "items.jsonl", tmp / "stats.json"
    settings = {
        "LOG_LEVEL": "WARNING",
        "LOOQTA_STATS_FILE": str(stats_file),
        **variant.settings,
    }
    if not variant.project_settings:  # a bare project: only the stats file, to time the crawl
        settings["EXTENSIONS"] = {"looqta.extensions.statsfile.StatsFile": 900}
    command = [sys.executable, "-m", "scrapy", "runspider", str(SPIDER)]
    command += ["-a", f"noon={noon}", "-a", f"pages={pages}", "-a", f"render={variant.render}"]
    command += ["-O", f"{feed}:jsonlines"]
    for name, value in settings.items():
        command += ["-s", f"{name}={json.dumps(value) if isinstance(value, (dict, list, bool)) else value}"]
    # Outside the project directory there is no scrapy.cfg: Scrapy's defaults apply.
    cwd = ROOT if variant.project_settings else tmp
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    _, usage = measured(command, cwd, env, variant.key)
    elapsed = json.loads(stats_file.read_text())["elapsed_time_seconds"]
    boxes = [json.loads(line)["boxes"] for line in feed.read_text().splitlines()]
    check(variant, pages, boxes)
    return result(pages, elapsed, usage)


def run_crawlee(variant: Variant, noon: str, pages: int, tmp: Path, bench_python: Path) -> RunResult:
    out = tmp / "crawlee.json"
    options = chromium_launch_options()
    command = [str(bench_python), str(Path(__file__).resolve()), "crawlee-worker"]
    command += ["--noon", noon, "--pages", str(pages), "--out", str(out)]
    command += ["--launch-options", json.dumps(options)]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp),
        "CRAWLEE_STORAGE_DIR": str(tmp / "storage"),
    }
    _, usage = measured(command, tmp, env, variant.key)
    done = json.loads(out.read_text())
    check(variant, pages, done["boxes"])
    return result(pages, done["elapsed_seconds"], usage)


def check(variant: Variant, pages: int, boxes: list[int]) -> None:
    if len(boxes) != pages:
        raise RuntimeError(f"{variant.key}: {len(boxes)} of {pages} pages came back")
    expected = BOXES_PER_PAGE if variant.render == "browser" else 0
    wrong = [count for count in boxes if count != expected]
    if wrong:
        raise RuntimeError(f"{variant.key}: {len(wrong)} pages without {expected} products: {wrong[:5]}")


def result(pages: int, elapsed: float, usage: Any) -> RunResult:
    return RunResult(
        pages_per_s=pages / elapsed,
        cpu_ms_per_page=usage.cpu_seconds * 1000 / pages,
        peak_pss_mib=usage.peak_memory_bytes / 2**20,
        memory_kind=usage.memory_kind,
    )


# --- the Crawlee worker (runs in .venv-bench) -------------------------------------------------


def crawlee_worker(noon: str, pages: int, out: Path, launch_options: dict[str, Any]) -> int:
    from crawlee.crawlers import PlaywrightCrawler, PlaywrightCrawlingContext

    async def crawl() -> dict[str, Any]:
        crawler = PlaywrightCrawler(browser_launch_options=launch_options)
        boxes: list[int] = []

        @crawler.router.default_handler
        async def listing(context: PlaywrightCrawlingContext) -> None:
            await context.page.wait_for_selector(LISTING_LOADED)
            boxes.append(await context.page.locator(PRODUCT_BOX).count())

        started = time.monotonic()
        await crawler.run(page_urls(noon, pages))
        return {"elapsed_seconds": time.monotonic() - started, "boxes": boxes}

    out.write_text(json.dumps(asyncio.run(crawl())))
    return 0


# --- the comparison ---------------------------------------------------------------------------


def describe(values: list[float], digits: int = 1) -> str:
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}–{max(values):.{digits}f})"


def median(results: list[RunResult], metric: str) -> float:
    return statistics.median(getattr(r, metric) for r in results)


def report(chosen: list[Variant], results: dict[str, list[RunResult]], pages: int, rounds: int) -> None:
    busy = [r.machine_busy_percent for rows in results.values() for r in rows]
    print(f"\n{pages} sandbox noon listing pages x {rounds} interleaved rounds; median (min–max)")
    print(f"machine busy before the runs: {describe(busy, 0)} % (other work on the machine skews all runs)\n")
    print("| run | pages/s | CPU ms/page | peak PSS MiB |")
    print("|---|---|---|---|")
    for variant in chosen:
        rows = results[variant.key]
        cpu = describe([r.cpu_ms_per_page for r in rows], 0)
        pss = describe([r.peak_pss_mib for r in rows], 0)
        print(f"| {variant.label} | {describe([r.pages_per_s for r in rows])} | {cpu} | {pss} |")
    if "looqta" not in results:
        return
    looqta = results["looqta"]
    print()
    for key, goal in (("sp-defaults", 2.0), ("crawlee", 3.0)):
        if key in results:
            ratio = median(looqta, "pages_per_s") / median(results[key], "pages_per_s")
            verdict = "met" if ratio >= goal else "NOT met"
            print(f"looqta / {key}: {ratio:.2f}x pages/s (goal >= {goal}x: {verdict})")
            if "looqta-throttle" in results:
                capped = median(results["looqta-throttle"], "pages_per_s")
                capped /= median(results[key], "pages_per_s")
                print(f"  with the resource throttle on (CPU <= 80 %): {capped:.2f}x")
    if "sp-defaults" in results:
        ours, theirs = median(looqta, "peak_pss_mib"), median(results["sp-defaults"], "peak_pss_mib")
        verdict = "met" if ours <= theirs else "NOT met"
        print(f"peak PSS: looqta {ours:.0f} MiB vs sp-defaults {theirs:.0f} MiB (goal <=: {verdict})")


def compare(args: argparse.Namespace) -> int:
    from looqta.sandbox.client import SandboxProcess

    chosen = [v for v in variants() if v.key in args.only] if args.only else variants()
    if any(v.kind == "crawlee" for v in chosen) and not Path(args.bench_python).exists():
        raise SystemExit(
            f"{args.bench_python} not found: python3.11 -m venv .venv-bench && "
            ".venv-bench/bin/pip install -r benchmarks/requirements-bench.txt (or --only without crawlee)"
        )
    results: dict[str, list[RunResult]] = {v.key: [] for v in chosen}
    with SandboxProcess(sites=("noon",)) as sandbox:
        noon = sandbox.url("noon")
        for round_no in range(args.rounds):
            shift = round_no % len(chosen)
            for variant in chosen[shift:] + chosen[:shift]:
                busy = settle(args.quiet_percent, args.quiet_wait_seconds)
                with tempfile.TemporaryDirectory(prefix=f"bench-{variant.key}-") as tmp:
                    if variant.kind == "crawlee":
                        run = run_crawlee(variant, noon, args.pages, Path(tmp), Path(args.bench_python))
                    else:
                        run = run_scrapy(variant, noon, args.pages, Path(tmp))
                run.machine_busy_percent = busy
                results[variant.key].append(run)
                print(
                    f"round {round_no + 1} {variant.key:<14} {run.pages_per_s:6.2f} pages/s "
                    f"{run.cpu_ms_per_page:6.0f} CPU ms/page  peak {run.peak_pss_mib:5.0f} MiB "
                    f"{run.memory_kind.upper()}  (machine {busy:.0f} % busy before)",
                    flush=True,
                )
    report(chosen, results, args.pages, args.rounds)
    if args.json:
        Path(args.json).write_text(
            json.dumps({key: [vars(r) for r in rows] for key, rows in results.items()}, indent=1)
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    worker = sub.add_parser("crawlee-worker", help="(internal) one Crawlee run, in .venv-bench")
    worker.add_argument("--noon", required=True)
    worker.add_argument("--pages", type=int, required=True)
    worker.add_argument("--out", type=Path, required=True)
    worker.add_argument("--launch-options", type=json.loads, required=True)
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bench-python", default=str(DEFAULT_BENCH_PYTHON))
    parser.add_argument("--only", nargs="*", help="variant keys to run (default: all)")
    parser.add_argument("--json", help="also write every run's numbers here")
    parser.add_argument(
        "--quiet-percent", type=float, default=50.0, help="wait for the machine to be under this %% busy"
    )
    parser.add_argument(
        "--quiet-wait-seconds", type=float, default=30.0, help="...for at most this long before each run"
    )
    args = parser.parse_args(argv)
    if args.command == "crawlee-worker":
        return crawlee_worker(args.noon, args.pages, args.out, args.launch_options)
    return compare(args)


if __name__ == "__main__":
    sys.exit(main())
