"""Search results alone vs rendering every product page; adaptive vs pinned rendering.

    .venv/bin/python -m benchmarks.adaptive search [--repeat 3] [--max-pages 5] [--out search.json]
    .venv/bin/python -m benchmarks.adaptive adaptive [--repeat 3] [--max-pages 5] [--out adaptive.json]

Each crawl is its own ``scrapy crawl amazon`` process against one sandbox (``--products`` per
site), with the sandbox profile, the validation pipeline only (no files, no store) and the
resource throttle off; its final stats (``LOOQTA_STATS_FILE``) and items are read afterwards.
The variants of a subcommand run interleaved, their order rotating from repeat to repeat;
medians are reported. Time is the crawl's ``elapsed_time_seconds`` (spider open to close: a
browser launch counts, interpreter start-up does not).

* ``search``: ``search-only`` (items from the result pages, render mode left at its default)
  vs ``render-every-product`` (``-a details=1`` with ``LOOQTA_RENDER_MODE=browser``: every
  page, product pages included, rendered in Chromium; the stand-in for the crawl before result
  pages were read alone). Goal: search-only >= 10x its items/s.
* ``adaptive``: amazon's product pages (``/dp/``) carry a JavaScript challenge that plain HTTP
  never passes (a new one per page); search pages carry none. ``adaptive``, ``always-http`` and
  ``always-browser`` (``LOOQTA_RENDER_MODE``) crawl (a) ``pages-without-js``: result pages alone,
  goal adaptive >= 0.9x always-http; (b) ``pages-with-js``: ``-a details=1``, goal adaptive
  >= 0.9x always-browser, and the product pages always-http did not read are counted.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.cli import git, positive
from looqta.sandbox.client import SandboxProcess
from looqta.sandbox.profile import SANDBOX_SETTINGS

ROOT = Path(__file__).resolve().parents[1]
RUN_TIMEOUT_SECONDS = 600
GOAL_SEARCH_RATIO = 10.0
GOAL_ADAPTIVE_SHARE = 0.9
CHALLENGE_FAULT = {"challenge": 1.0, "challenge_ttl_seconds": 0, "path_prefix": "/dp/"}
MODES = {"adaptive": "adaptive", "always-http": "http", "always-browser": "browser"}
#: Stats copied into each run's record (missing ones are 0).
STATS = {
    "browser_pages": "looqta/render/browser",
    "plain_pages": "looqta/render/http",
    "search_pages": "looqta/pages/search/ok",
    "search_unparsed": "looqta/pages/search/unparsed",
    "product_pages": "looqta/pages/product/ok",
    "product_unparsed": "looqta/pages/product/unparsed",
    "product_via_browser": "looqta/render/amazon/product/browser",
    "product_via_http": "looqta/render/amazon/product/http",
    "search_via_browser": "looqta/render/amazon/search/browser",
    "search_via_http": "looqta/render/amazon/search/http",
    "probes": "looqta/render/amazon/product/probes",
    "blocks": "looqta/blocks/total",
    "blocks_gave_up": "looqta/blocks/gave_up",
    "details_failed": "looqta/details/failed",
    "duplicates_filtered": "dupefilter/filtered",
    "max_backoff_seconds": "looqta/blocks/max_backoff_seconds",
    "product_to_browser": "looqta/render/amazon/product/to_browser",
    "probes_failed": "looqta/render/amazon/product/probes_failed",
}


def crawl_settings(mode: str | None) -> dict[str, Any]:
    settings = {
        **SANDBOX_SETTINGS,
        "ITEM_PIPELINES": {"looqta.pipelines.validate.ValidationPipeline": 100},
        "LOOQTA_THROTTLE_ENABLED": False,
        "LOOQTA_METRICS_ENABLED": False,
        "LOG_LEVEL": "INFO",
    }
    if mode is not None:
        settings["LOOQTA_RENDER_MODE"] = mode
    return settings


def crawl_command(
    base_url: str, args: argparse.Namespace, details: bool, mode: str | None, work: Path
) -> list[str]:
    command = [sys.executable, "-m", "scrapy", "crawl", "amazon", "-a", f"q={args.query}"]
    command += ["-a", f"max_pages={args.max_pages}", "-a", f"base_url={base_url}"]
    if details:
        command += ["-a", "details=1"]
    extra = dict(assignment.split("=", 1) for assignment in args.set)
    settings = {**crawl_settings(mode), **extra, "LOOQTA_STATS_FILE": str(work / "stats.json")}
    for name, value in settings.items():
        command += ["-s", f"{name}={json.dumps(value) if isinstance(value, (dict, list, bool)) else value}"]
    return [*command, "-O", f"{work / 'items.jsonl'}:jsonlines"]


def run_crawl(label: str, command: list[str], work: Path, timeout: float) -> None:
    """Run one crawl in its own process group; a crawl past ``timeout`` is killed with its browser."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LOOQTA_DATA_DIR": str(work / "data")}
    with open(work / "crawl.log", "wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise RuntimeError(f"{label}: crawl killed after {timeout:.0f} s") from None
    if process.returncode != 0 or not (work / "stats.json").exists():
        tail = (work / "crawl.log").read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{label}: crawl failed ({process.returncode}):\n{tail}")


def measure(
    label: str, base_url: str, args: argparse.Namespace, details: bool, mode: str | None, repeat: int
) -> dict[str, Any]:
    """One crawl of ``label``: its items, time and page counts from its stats."""
    with tempfile.TemporaryDirectory(prefix=f"looqta-bench-adaptive-{label.replace('/', '-')}-") as tmp:
        work = Path(tmp)
        command = crawl_command(base_url, args, details, mode, work)
        try:
            run_crawl(label, command, work, args.timeout)
        finally:
            if args.keep_logs is not None:
                args.keep_logs.mkdir(parents=True, exist_ok=True)
                name = f"{label.replace('/', '-')}-{repeat}.log"
                shutil.copyfile(work / "crawl.log", args.keep_logs / name)
        stats = json.loads((work / "stats.json").read_text())
        feed = work / "items.jsonl"
        items = [json.loads(line) for line in feed.read_text().splitlines()] if feed.exists() else []
    elapsed = float(stats["elapsed_time_seconds"])
    run: dict[str, Any] = {
        "variant": label,
        "repeat": repeat,
        "mode": mode or "default",
        "details": details,
        "finish_reason": stats.get("finish_reason"),
        "items": stats.get("item_scraped_count", 0),
        "elapsed_seconds": elapsed,
        **{name: stats.get(key, 0) for name, key in STATS.items()},
        # A product page read adds availability; a search card alone has none.
        "items_with_details": sum(item.get("availability") is not None for item in items),
    }
    run["pages"] = sum(
        run[k] for k in ("search_pages", "search_unparsed", "product_pages", "product_unparsed")
    )
    run["items_per_second"] = run["items"] / elapsed
    run["pages_per_second"] = run["pages"] / elapsed
    run["product_pages_per_second"] = run["product_pages"] / elapsed
    return run


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per variant: the median of every number, and each repeat's items/s."""
    summary: dict[str, dict[str, Any]] = {}
    for label in dict.fromkeys(run["variant"] for run in runs):
        mine = [run for run in runs if run["variant"] == label]
        numbers = [k for k, v in mine[0].items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        row: dict[str, Any] = {"runs": len(mine), "mode": mine[0]["mode"], "details": mine[0]["details"]}
        row |= {k: statistics.median(run[k] for run in mine) for k in numbers if k != "repeat"}
        row["items_per_second_each"] = [round(run["items_per_second"], 2) for run in mine]
        row["pages_per_second_each"] = [round(run["pages_per_second"], 2) for run in mine]
        row["finish_reasons"] = sorted({str(run["finish_reason"]) for run in mine})
        summary[label] = row
    return summary


def ratio(summary: dict[str, dict[str, Any]], top: str, bottom: str, key: str) -> float | None:
    below = summary[bottom][key]
    return summary[top][key] / below if below else None


def goals_search(summary: dict[str, dict[str, Any]]) -> dict[str, Any]:
    value = ratio(summary, "search-only", "render-every-product", "items_per_second")
    return {
        "search_only_vs_render_every_product_items_per_second": value,
        "goal": f">= {GOAL_SEARCH_RATIO:g}",
        "met": value is not None and value >= GOAL_SEARCH_RATIO,
    }


def goals_adaptive(summary: dict[str, dict[str, Any]]) -> dict[str, Any]:
    goals: dict[str, Any] = {}
    for part, baseline in (("pages-without-js", "always-http"), ("pages-with-js", "always-browser")):
        top, bottom = f"{part}/adaptive", f"{part}/{baseline}"
        items = ratio(summary, top, bottom, "items_per_second")
        goals[part] = {
            f"adaptive_vs_{baseline}_items_per_second": items,
            f"adaptive_vs_{baseline}_pages_per_second": ratio(summary, top, bottom, "pages_per_second"),
            "goal": f">= {GOAL_ADAPTIVE_SHARE:g}",
            "met": items is not None and items >= GOAL_ADAPTIVE_SHARE,
        }
    plain = summary["pages-with-js/always-http"]
    goals["pages-with-js"]["always_http_product_pages"] = {
        "items": plain["items"],
        "items_with_details": plain["items_with_details"],
        "without_details": plain["items"] - plain["items_with_details"],
        "blocks": plain["blocks"],
        "gave_up": plain["blocks_gave_up"],
        "details_failed": plain["details_failed"],
        "product_via_browser": plain["product_via_browser"],
    }
    return goals


def plan(subcommand: str) -> tuple[list[tuple[str, bool, str | None]], dict[str, Any] | None]:
    """The variants (label, details, render mode) of ``subcommand`` and the amazon fault it needs."""
    if subcommand == "search":
        return [("search-only", False, None), ("render-every-product", True, "browser")], None
    variants = [
        (f"{part}/{label}", details, mode)
        for part, details in (("pages-without-js", False), ("pages-with-js", True))
        for label, mode in MODES.items()
    ]
    return variants, CHALLENGE_FAULT


def parse_args(argv: list[str]) -> argparse.Namespace:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--repeat", type=positive, default=3, help="crawls per variant (medians)")
    common.add_argument("--products", type=positive, default=10_000, help="sandbox products per site")
    common.add_argument("--query", default="iphone")
    common.add_argument("--max-pages", type=positive, default=5, help="search result pages")
    common.add_argument("--out", type=Path, help="also write the JSON results here")
    common.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a Scrapy setting for every crawl of every variant (repeatable)",
    )
    common.add_argument("--keep-logs", type=Path, help="copy each crawl's log here (VARIANT-REPEAT.log)")
    common.add_argument("--timeout", type=positive, default=RUN_TIMEOUT_SECONDS, help="seconds per crawl")
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.adaptive",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="subcommand", required=True)
    for name, text in (
        ("search", "result pages alone vs every product page rendered"),
        ("adaptive", "adaptive vs always-http vs always-browser, product pages challenged"),
    ):
        sub.add_parser(name, parents=[common], help=text, description=text)
    args = parser.parse_args(argv)
    for assignment in args.set:
        if "=" not in assignment or not assignment.split("=", 1)[0]:
            parser.error(f"--set wants NAME=VALUE, got {assignment!r}")
    if args.out is not None and not args.out.parent.is_dir():
        parser.error(f"--out: no directory {args.out.parent}")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    variants, fault = plan(args.subcommand)
    result: dict[str, Any] = {
        "benchmark": f"benchmarks.adaptive {args.subcommand}",
        "command": shlex.join([".venv/bin/python", "-m", "benchmarks.adaptive", *argv]),
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted_changes": bool(git("status", "--porcelain")),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_at_start": os.getloadavg(),
        "query": args.query,
        "max_pages": args.max_pages,
        "products": args.products,
        "amazon_fault": fault,
        "settings": crawl_settings(None) | dict(assignment.split("=", 1) for assignment in args.set),
    }
    runs: list[dict[str, Any]] = []
    started = time.monotonic()
    with SandboxProcess(sites=("amazon",), products=args.products) as sandbox:
        if fault is not None:
            sandbox.set_faults("amazon", **fault)
        base_url = sandbox.url("amazon")
        for repeat in range(1, args.repeat + 1):
            shift = (repeat - 1) % len(variants)  # rotate the order from repeat to repeat
            for label, details, mode in variants[shift:] + variants[:shift]:
                run = measure(label, base_url, args, details, mode, repeat)
                runs.append(run)
                print(
                    f"[{repeat}/{args.repeat}] {label:<32} {run['items']:4d} items "
                    f"{run['items_per_second']:8.2f}/s, {run['pages']:4d} pages "
                    f"{run['pages_per_second']:8.2f}/s "
                    f"in {run['elapsed_seconds']:6.2f} s; browser {run['browser_pages']} plain "
                    f"{run['plain_pages']}, blocks {run['blocks']}, with details {run['items_with_details']}",
                    file=sys.stderr,
                    flush=True,
                )
    order = [label for label, _, _ in variants]
    summary = summarise(sorted(runs, key=lambda run: order.index(run["variant"])))
    goals = goals_search(summary) if args.subcommand == "search" else goals_adaptive(summary)
    result |= {"wall_seconds": time.monotonic() - started, "summary": summary, "goals": goals, "runs": runs}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out is not None:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
