"""The demo: crawl the offline sandbox of every site through the whole stack.

``python -m looqta.demo [-q iphone] [--max-pages 2] [--output output]`` runs the amazon and noon
spiders against the sandbox (a bad day on the real sites: a JavaScript challenge, block pages) and
writes ``<output>/<site>.jsonl`` (JSON Lines: valid up to its last line after a kill) and ``.csv``
feeds. The terminal shows progress and a summary; the
whole log, stats dumps included, goes to ``<output>/demo.log``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy.utils.project import get_project_settings

from looqta.sandbox import sites
from looqta.sandbox.client import SandboxProcess
from looqta.sandbox.profile import SANDBOX_SETTINGS

SITES: tuple[str, ...] = sites.names()
LOG_FILE = "demo.log"
#: The log records also shown on the terminal: the periodic progress lines.
TERMINAL_LOGGER = "looqta.extensions.progress"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m looqta.demo", description=__doc__.splitlines()[0])
    parser.add_argument("-q", "--query", default="iphone", help="search words (default: iphone)")
    parser.add_argument("--max-pages", type=int, default=2, help="search pages per site (default: 2)")
    parser.add_argument(
        "--output", type=Path, default=Path("output"), help="feed directory (default: output)"
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    if args.max_pages < 1:
        parser.error("--max-pages must be >= 1")
    return args


def crawl_settings(output: Path, log_level: str) -> dict[str, Any]:
    return {
        **SANDBOX_SETTINGS,
        "FEEDS": {
            str(output / "%(name)s.jsonl"): {"format": "jsonlines", "overwrite": True},
            str(output / "%(name)s.csv"): {"format": "csv", "overwrite": True},
        },
        "LOOQTA_STATS_FILE": str(output / "%(name)s.stats.json"),
        "LOGSTATS_INTERVAL": 5.0,
        "LOG_LEVEL": log_level,
        "LOG_FILE": str(output / LOG_FILE),
        "LOG_FILE_APPEND": False,
    }


def show_progress_on_terminal() -> None:
    """Scrapy's log handler writes to the log file only; the progress lines are echoed to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(logging.Filter(TERMINAL_LOGGER))
    handler.setFormatter(logging.Formatter("[demo] %(message)s"))
    logging.getLogger().addHandler(handler)


def summary(output: Path, elapsed: float) -> str:
    lines = [f"looqta demo finished in {elapsed:.1f} s", ""]
    lines.append(
        f"{'site':<8} {'items':>6} {'dropped':>8} {'browser pages':>14} {'http pages':>11} {'blocks':>7}"
    )
    for site in SITES:
        stats_path = output / f"{site}.stats.json"
        if not stats_path.exists():
            lines.append(f"{site:<8} (no stats: the crawl did not finish)")
            continue
        stats = json.loads(stats_path.read_text())
        lines.append(
            f"{site:<8} {stats.get('item_scraped_count', 0):>6} {stats.get('looqta/validate/dropped', 0):>8} "
            f"{stats.get('looqta/render/browser', 0):>14} {stats.get('looqta/render/http', 0):>11} "
            f"{stats.get('looqta/blocks/total', 0):>7}"
        )
        moved = sorted(
            k.split("/")[3] for k in stats if k.startswith(f"looqta/render/{site}/") and "/to_browser" in k
        )
        if moved:
            lines.append(f"{'':<8} moved to the browser at run time: {', '.join(moved)} pages")
        if "looqta/health/summary" in stats:  # the run health's verdict (looqta/health)
            lines.append(f"{'':<8} {stats['looqta/health/summary']}")
    counts = {level: 0 for level in ("ERROR", "WARNING")}
    for site in SITES:
        stats_path = output / f"{site}.stats.json"
        stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
        for level in counts:
            counts[level] += stats.get(f"log_count/{level}", 0)
    feeds = ", ".join(f"{site}.jsonl, {site}.csv" for site in SITES)
    lines += [
        "",
        f"feeds: {output}/ ({feeds}; stats in <site>.stats.json)",
        f"log:   {output / LOG_FILE} ({counts['ERROR']} errors, {counts['WARNING']} warnings)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    for site in SITES:
        (args.output / f"{site}.stats.json").unlink(missing_ok=True)
    started = time.monotonic()
    with SandboxProcess() as sandbox:
        print(f"[demo] sandbox up: {sandbox.urls}", flush=True)
        sandbox.set_faults("amazon", challenge=1.0, challenge_ttl_seconds=0, path_prefix="/s")
        sandbox.set_faults("noon", blocks={"forbidden": 0.05}, block_seed=2)
        print(
            "[demo] amazon search pages behind a JavaScript challenge; 5 % of noon answers blocked",
            flush=True,
        )
        settings = get_project_settings()
        settings.setdict(crawl_settings(args.output, args.log_level), priority="cmdline")
        process = CrawlerProcess(settings)  # sends the log to LOG_FILE
        show_progress_on_terminal()
        for site in SITES:
            process.crawl(site, q=args.query, max_pages=args.max_pages, base_url=sandbox.url(site))
        print(
            f"[demo] crawling {', '.join(SITES)} for {args.query!r} ({args.max_pages} page(s) each)",
            flush=True,
        )
        process.start()
    print(summary(args.output, time.monotonic() - started), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
