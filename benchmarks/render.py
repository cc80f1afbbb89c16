"""Rendered pages/s vs plain-HTTP pages/s over the same sandbox pages, with the process tree's peak memory.

    .venv/bin/python -m benchmarks.render [--pages 100] [--rounds 3]

Each round runs both modes, one after the other, each as its own
``scrapy runspider`` process (Scrapy + Playwright driver + Chromium), against
one sandbox. Reports medians and ranges of pages/s, CPU ms per page (whole
process tree) and peak PSS. Loopback only, bounded in pages and time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.proctree import TreeSampler
from looqta.sandbox.client import SandboxProcess

ROOT = Path(__file__).resolve().parents[1]
SPIDER = ROOT / "benchmarks" / "spiders" / "pages.py"
RUN_TIMEOUT_SECONDS = 300
PLAIN_HANDLER = "scrapy_playwright.handler.ScrapyPlaywrightDownloadHandler"


def run_once(noon: str, pages: int, render: str, concurrency: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        feed = Path(tmp) / "items.jsonl"
        settings = {
            "DOWNLOAD_SLOTS": {"127.0.0.1": {"concurrency": concurrency, "delay": 0}},
            "AUTOTHROTTLE_ENABLED": False,
            "ROBOTSTXT_OBEY": False,
            "ITEM_PIPELINES": {},
            "LOOQTA_THROTTLE_ENABLED": False,  # measure rendering itself, not the throttle
            # scrapy-playwright's own handler (a new page per request); the page pool is
            # measured against it in benchmarks/compare.py.
            "DOWNLOAD_HANDLERS": {"http": PLAIN_HANDLER, "https": PLAIN_HANDLER},
            "LOG_LEVEL": "WARNING",
            "CONCURRENT_REQUESTS": concurrency,
            "CONCURRENT_REQUESTS_PER_DOMAIN": concurrency,
            "LOOQTA_STATS_FILE": str(Path(tmp) / "stats.json"),
        }
        command = [
            sys.executable,
            "-m",
            "scrapy",
            "runspider",
            str(SPIDER),
            "-a",
            f"noon={noon}",
            "-a",
            f"pages={pages}",
            "-a",
            f"render={render}",
            "-O",
            f"{feed}:jsonlines",
        ]
        for name, value in settings.items():
            command += ["-s", f"{name}={json.dumps(value) if isinstance(value, (dict, bool)) else value}"]
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        with TreeSampler(process.pid) as sampler:
            _, stderr = process.communicate(timeout=RUN_TIMEOUT_SECONDS)
        if process.returncode != 0:
            raise RuntimeError(f"{render} run failed:\n{stderr[-2000:]}")
        # From the spider's opening to its closing: browser start-up counts, interpreter start-up not.
        elapsed = json.loads((Path(tmp) / "stats.json").read_text())["elapsed_time_seconds"]
        items = [json.loads(line) for line in feed.read_text().splitlines()]
    if len(items) != pages:
        raise RuntimeError(f"{render} run returned {len(items)} of {pages} pages")
    if render == "browser" and not all(item["boxes"] == 24 for item in items):
        raise RuntimeError("a rendered page came back without its 24 products")
    usage = sampler.usage
    return {
        "pages_per_s": pages / elapsed,
        "cpu_ms_per_page": usage.cpu_seconds * 1000 / pages,
        "peak_mib": usage.peak_memory_bytes / 2**20,
        "memory_kind": usage.memory_kind,
    }


def describe(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} ({min(values):.1f}–{max(values):.1f})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight (default 8)")
    args = parser.parse_args(argv)
    results: dict[str, list[dict[str, Any]]] = {"browser": [], "http": []}
    with SandboxProcess(sites=("noon",)) as sandbox:
        for round_no in range(1, args.rounds + 1):
            for render in ("browser", "http"):
                result = run_once(sandbox.url("noon"), args.pages, render, args.concurrency)
                results[render].append(result)
                print(
                    f"round {round_no} {render:<7} {result['pages_per_s']:7.1f} pages/s "
                    f"{result['cpu_ms_per_page']:6.1f} CPU ms/page  peak {result['peak_mib']:6.0f} MiB "
                    f"{result['memory_kind'].upper()}",
                    flush=True,
                )
    print(
        f"\n{args.pages} noon listing pages x {args.rounds} rounds, concurrency {args.concurrency}; "
        "median (min–max)"
    )
    print("| mode | pages/s | CPU ms/page | peak memory MiB |")
    print("|---|---|---|---|")
    for render, label in (("browser", "rendered (scrapy-playwright, Chromium)"), ("http", "plain HTTP")):
        rows = results[render]
        print(
            f"| {label} | {describe([r['pages_per_s'] for r in rows])} | "
            f"{describe([r['cpu_ms_per_page'] for r in rows])} | {describe([r['peak_mib'] for r in rows])} "
            f"{rows[0]['memory_kind'].upper()} |"
        )
    ratio = statistics.median(r["pages_per_s"] for r in results["http"]) / statistics.median(
        r["pages_per_s"] for r in results["browser"]
    )
    print(f"\nplain HTTP is {ratio:.1f}x the rendered rate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
