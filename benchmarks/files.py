"""Does file work slow the crawl or block its event loop? Pool vs inline vs no file work.

    .venv/bin/python benchmarks/files.py --max-pages 2 --pdf-pages 200 --repeat 3
    .venv/bin/python benchmarks/files.py --modes none,pool --set LOOQTA_FILES_MAX_DOWNLOADS=8
    .venv/bin/python benchmarks/files.py --modes none,pool --variant nice:LOOQTA_FILES_WORKER_SCHED_IDLE=False

Starts a sandbox (amazon only, every "Product guides and documents" PDF ``--pdf-pages`` pages
long), then crawls it with the amazon spider and ``-a details=1`` once per mode and repeat, each
crawl in its own process. The spider reads ``--max-pages`` search pages (20 results and 2
sponsored cards each, following each page's "Next" link) and every product's page ``/dp/<ASIN>``;
each product page gives its item a full-size image and a PDF (``file_urls``), so every item has
two files. Products without an offer (about 3 %) yield no item and no product page; a sponsored
product already seen is fetched once.

* ``none``    the validation pipeline only: no file is downloaded (the baseline);
* ``inline``  the files pipeline with ``LOOQTA_FILES_EXECUTOR=inline``: the same work, run on the
  crawl's event loop;
* ``pool``    the files pipeline as configured by default (its process pool);
* ``LABEL``   with ``--variant LABEL:NAME=VALUE[,NAME=VALUE…]``: the pool mode with those settings,
  run beside the others in every repeat (another value measured in the same sandbox and run).

For each crawl it measures, in the crawl's process:

* event-loop lag: a timer re-armed every 10 ms on the crawl's event loop records how late each
  tick fires, from engine start to spider close (p50 / p99 / max);
* loop CPU: the CPU time the event loop's thread used between two ticks (p99 / max). Lateness
  also grows when other processes load the machine; this does not, so it tells work done on the
  loop (inline file work) from a busy machine;
* pages/s: HTML pages (search and product pages, not files, not robots.txt) over the time from
  engine start to the last page response;
* where that time goes: engine start to the first search page's response (the crawl's start-up,
  and the worker pool's when they overlap), the median time from one search page's response to
  the next's (the serial chain of search pages: each names the next), and the last search
  page's response to the last page's (its product pages);
* crawl CPU: the crawl process's CPU time over the same span (its downloads, parsing, spooling);
* machine CPU: the whole machine's busy share over the same span (all cores: the crawl, the
  sandbox and the file workers), and of it the niced share (the file workers): how busy the
  machine was while the pages were fetched. File work that goes on after the last page is not
  in it;
* sandbox CPU: the sandbox process's CPU time over the whole run (read from outside): the serving
  of pages and files, which a real site would do on its own machines;
* items and file results.

The expected products are computed from the sandbox's catalogue (its result cards, sponsored
ones included, less those without an offer). The sandbox caches the 512 PDFs and images it
generated last; with at most 512 products the benchmark fetches each PDF and image once before
measuring, so no crawl pays for the sandbox generating them.

The sandbox links the images and PDFs on the site's CDN origin (a second loopback port), as
amazon serves them from m.media-amazon.com: file downloads use their own download slot, not the
site's. ``--latency-ms N`` makes the sandbox's site and CDN wait N ms before every answer (their
``latency_ms`` fault), as a remote site and its CDN do. Without it the sandbox answers in about a
millisecond, the crawl is bound by this machine's CPU (crawl, the sandbox itself and the file
workers share its cores), and the ratio measures CPU contention more than the file pipeline's
design.

Before the spiders read search pages alone, this crawled noon: its listing pages rendered in
Chromium (a JavaScript app), 24 products each, and every product page fetched over HTTP with a
datasheet PDF and an image. noon's product pages carry no documents now and both spiders read
search pages over plain HTTP, so this crawl runs no browser unless asked
(``--set LOOQTA_RENDER_MODE=browser`` renders every page, search and product pages alike): its
pages/s and CPU shares are not comparable with those of the noon crawl.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:  # run as a script: make looqta importable
    sys.path.insert(0, str(PROJECT_ROOT))

import psutil  # noqa: E402
from scrapy import signals  # noqa: E402
from scrapy.crawler import CrawlerProcess  # noqa: E402
from scrapy.utils.project import get_project_settings  # noqa: E402

from looqta import internals  # noqa: E402
from looqta.pipelines.files import FILE_REQUEST_META  # noqa: E402
from looqta.sandbox.assets import PDF_CACHE_SIZE  # noqa: E402
from looqta.sandbox.catalogue import Catalogue  # noqa: E402
from looqta.sandbox.client import SandboxProcess  # noqa: E402
from looqta.sandbox.profile import SANDBOX_SETTINGS  # noqa: E402
from looqta.sandbox.sites import amazon  # noqa: E402
from looqta.sandbox.variants import has_offer  # noqa: E402
from looqta.throttle.sampler import cpu_shares  # noqa: E402

if TYPE_CHECKING:
    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response

MODES: tuple[str, ...] = ("none", "inline", "pool")
TICK_SECONDS = 0.010
SITE = "amazon"
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class LoopProbe:
    """An extension that measures event-loop lag and page throughput in the crawl's process."""

    def __init__(self, crawler: Crawler) -> None:
        self.out = Path(crawler.settings["BENCHMARK_PROBE_OUT"])
        self.crawler = crawler
        self.concurrency: list[int] = []  #: the downloader's total concurrency at each page response
        self.lags: list[float] = []
        self.loop_cpu: list[float] = []
        self._cpu = 0.0
        self.pages = 0
        self.listing_at: list[float] = []  #: when each search page's response arrived
        self.file_responses = 0
        self.started = self.last_page = 0.0
        self.cpu_at_start = self.crawl_cpu = 0.0
        self.machine_at_start = self.machine_at_last_page = psutil.cpu_times()
        self._expected = 0.0
        self._timer: asyncio.TimerHandle | None = None
        crawler.signals.connect(self._engine_started, signal=signals.engine_started)
        crawler.signals.connect(self._response_received, signal=signals.response_received)
        crawler.signals.connect(self._spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> LoopProbe:
        return cls(crawler)

    def _engine_started(self) -> None:
        self.started = time.monotonic()
        self.cpu_at_start = time.process_time()
        self.machine_at_start = psutil.cpu_times()
        self._cpu = time.thread_time()
        self._arm()

    def _arm(self) -> None:
        loop = asyncio.get_event_loop()
        self._expected = loop.time() + TICK_SECONDS
        self._timer = loop.call_at(self._expected, self._tick)

    def _tick(self) -> None:
        cpu = time.thread_time()
        self.lags.append(asyncio.get_event_loop().time() - self._expected)
        self.loop_cpu.append(cpu - self._cpu)
        self._cpu = cpu
        self._arm()

    def _response_received(self, response: Response, request: Request, spider: Spider) -> None:
        if FILE_REQUEST_META in request.meta:
            self.file_responses += 1
        elif not request.url.endswith("/robots.txt"):
            self.pages += 1
            self.last_page = time.monotonic()
            if "/s?" in request.url:  # amazon's search pages
                self.listing_at.append(self.last_page)
            self.crawl_cpu = time.process_time() - self.cpu_at_start
            self.machine_at_last_page = psutil.cpu_times()
            self.concurrency.append(internals.total_concurrency(internals.downloader(self.crawler)))

    def _spider_closed(self, spider: Spider, reason: str) -> None:
        if self._timer is not None:
            self._timer.cancel()
        ended = time.monotonic()
        crawl_seconds = max(self.last_page - self.started, 1e-9)
        lags = sorted(self.lags) or [0.0]
        loop_cpu = sorted(self.loop_cpu) or [0.0]
        machine, niced = cpu_shares(self.machine_at_start, self.machine_at_last_page)
        listing = self.listing_at or [self.started]
        steps = [later - earlier for earlier, later in itertools.pairwise(listing)] or [0.0]
        self.out.write_text(
            json.dumps(
                {
                    "reason": reason,
                    "pages": self.pages,
                    "file_responses": self.file_responses,
                    "crawl_seconds": crawl_seconds,
                    "pages_per_second": self.pages / crawl_seconds,
                    "total_seconds": ended - self.started,
                    "first_listing_seconds": listing[0] - self.started,
                    "listing_step_seconds": statistics.median(steps),
                    "tail_seconds": self.last_page - listing[-1],
                    "ticks": len(self.lags),
                    "lag_p50_ms": 1000 * statistics.median(lags),
                    "lag_p99_ms": 1000 * lags[min(len(lags) - 1, int(0.99 * len(lags)))],
                    "lag_max_ms": 1000 * lags[-1],
                    "loop_cpu_p99_ms": 1000 * loop_cpu[min(len(loop_cpu) - 1, int(0.99 * len(loop_cpu)))],
                    "loop_cpu_max_ms": 1000 * loop_cpu[-1],
                    "process_cpu_seconds": time.process_time(),
                    "crawl_cpu_seconds": self.crawl_cpu,
                    "machine_cpu_percent": machine,
                    "machine_niced_percent": niced,
                    # What the resource throttle allowed while the pages were fetched.
                    "concurrency_min": min(self.concurrency, default=0),
                    "concurrency_mean": statistics.fmean(self.concurrency) if self.concurrency else 0.0,
                }
            )
        )


def crawl_once(
    mode: str, base_url: str, query: str, max_pages: int, out: Path, extra: dict[str, str] | None = None
) -> None:
    """One crawl in this process (``--child``): the project's settings, the sandbox profile, then
    ``--set`` values."""
    work = out.parent
    settings = get_project_settings()
    settings.setdict(SANDBOX_SETTINGS, priority="cmdline")
    pipelines = {"looqta.pipelines.validate.ValidationPipeline": 100}
    if mode != "none":
        pipelines["looqta.pipelines.files.FilesPipeline"] = 300
    extensions = {**settings.getdict("EXTENSIONS"), LoopProbe: 0}
    settings.setdict(
        {
            "ITEM_PIPELINES": pipelines,
            "EXTENSIONS": extensions,
            "LOOQTA_FILES_EXECUTOR": "inline" if mode == "inline" else "pool",
            "LOOQTA_FILES_DIR": str(work / "files"),
            "LOOQTA_STATS_FILE": str(work / "stats.json"),
            "BENCHMARK_PROBE_OUT": str(out),
            "FEEDS": {str(work / "items.json"): {"format": "json"}},
            "LOG_LEVEL": "INFO",
        },
        priority="cmdline",
    )
    settings.setdict(extra or {}, priority="cmdline")
    process = CrawlerProcess(settings)
    process.crawl(SITE, q=query, max_pages=max_pages, base_url=base_url, details="1")
    process.start()


def parse_variants(specs: list[str]) -> dict[str, dict[str, str]]:
    """``LABEL:NAME=VALUE[,NAME=VALUE…]`` values of ``--variant`` → ``{label: settings}``;
    ValueError says what is wrong with one."""
    variants: dict[str, dict[str, str]] = {}
    for spec in specs:
        label, _, assignments = spec.partition(":")
        if not label or label in MODES or label in variants or not assignments:
            raise ValueError(f"--variant wants a new LABEL:NAME=VALUE[,NAME=VALUE], got {spec!r}")
        settings = {}
        for assignment in assignments.split(","):
            name, equals, value = assignment.partition("=")
            if not name or not equals:
                raise ValueError(f"--variant {label}: {assignment!r} is not NAME=VALUE")
            settings[name] = value
        variants[label] = settings
    return variants


def run_mode(
    mode: str,
    base_url: str,
    args: argparse.Namespace,
    sandbox_pid: int,
    variant: dict[str, str] | None = None,
    repeat: int = 1,
) -> dict[str, Any]:
    """One crawl of ``mode`` (a variant's label: the pool mode with its settings)."""
    sandbox = psutil.Process(sandbox_pid)  # raises if it died: no run then
    sandbox_cpu_before = sum(sandbox.cpu_times()[:2])
    with tempfile.TemporaryDirectory(prefix=f"looqta-bench-{mode}-") as tmp:
        work = Path(tmp)
        out = work / "probe.json"
        command = [
            sys.executable,
            __file__,
            "--child",
            "pool" if variant is not None else mode,
            "--base-url",
            base_url,
            "--query",
            args.query,
            "--max-pages",
            str(args.max_pages),
            "--out",
            str(out),
            *(f"--set={assignment}" for assignment in args.set),
            *(f"--set={name}={value}" for name, value in (variant or {}).items()),
        ]
        with open(work / "crawl.log", "wb") as log:
            done = subprocess.run(
                command, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, check=False
            )
        if args.keep_logs:
            args.keep_logs.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(work / "crawl.log", args.keep_logs / f"{mode}-{repeat}.log")
        if done.returncode != 0 or not out.exists():
            tail = (work / "crawl.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{mode} crawl failed ({done.returncode}):\n{tail}")
        result = json.loads(out.read_text())
        stats = json.loads((work / "stats.json").read_text())
        items = json.loads((work / "items.json").read_text())
    files = [record for item in items for record in item.get("files", [])]
    result |= {
        "mode": mode,
        "sandbox_cpu_seconds": sum(sandbox.cpu_times()[:2]) - sandbox_cpu_before,
        "items": len(items),
        "files_done": sum(record["status"] == "done" for record in files),
        "files_failed": sum(record["status"] == "failed" for record in files),
        "pool_latency_p95_s": stats.get("looqta/files/latency/p95_seconds"),
        "throttle_scale_down": stats.get("looqta/throttle/scale_down", 0),
        "throttle_paused_seconds": stats.get("looqta/throttle/paused_seconds", 0),
    }
    return result


def expected_products(query: str, max_pages: int) -> list[str]:
    """The ASINs the crawl yields items for: every result card of the first ``max_pages`` search
    pages (sponsored ones included, each product once) whose product has an offer."""
    catalogue = Catalogue(SITE)
    matches = catalogue.search_all(query)
    seen: dict[str, None] = {}
    for page in range(1, max_pages + 1):
        result = catalogue.search(query, page, amazon.PAGE_SIZE)
        if not result.products:
            break
        for product, _sponsored in amazon.result_cards(result, matches):
            if has_offer(SITE, product.source_id):
                seen.setdefault(product.source_id)
    return list(seen)


def warm_sandbox(cdn_url: str, asins: list[str]) -> int:
    """Fetch each PDF and image the crawl will fetch, so the sandbox serves them from its caches
    instead of generating them on this machine during the measured crawl."""
    for asin in asins:
        for path in (f"/documents/{asin}.pdf", f"/images/{asin}.{amazon.IMAGE_EXT}"):
            with _OPENER.open(f"{cdn_url}{path}", timeout=120) as response:
                response.read()
    return len(asins)


def summarise(runs: list[dict[str, Any]], modes: tuple[str, ...] = MODES) -> list[dict[str, Any]]:
    rows = []
    for mode in modes:
        mine = [run for run in runs if run["mode"] == mode]
        if not mine:
            continue
        rows.append(
            {
                "mode": mode,
                "runs": len(mine),
                "pages": mine[0]["pages"],
                "items": mine[0]["items"],
                "files": f"{mine[0]['files_done']} done / {mine[0]['files_failed']} failed",
                "pages_per_second": statistics.median(run["pages_per_second"] for run in mine),
                "lag_p50_ms": statistics.median(run["lag_p50_ms"] for run in mine),
                "lag_p99_ms": statistics.median(run["lag_p99_ms"] for run in mine),
                "lag_max_ms": max(run["lag_max_ms"] for run in mine),
                "loop_cpu_p99_ms": statistics.median(run["loop_cpu_p99_ms"] for run in mine),
                "loop_cpu_max_ms": max(run["loop_cpu_max_ms"] for run in mine),
                "total_seconds": statistics.median(run["total_seconds"] for run in mine),
                "first_listing_seconds": statistics.median(run["first_listing_seconds"] for run in mine),
                "listing_step_seconds": statistics.median(run["listing_step_seconds"] for run in mine),
                "tail_seconds": statistics.median(run["tail_seconds"] for run in mine),
                "crawl_cpu_seconds": statistics.median(run["crawl_cpu_seconds"] for run in mine),
                "machine_cpu_percent": statistics.median(run["machine_cpu_percent"] for run in mine),
                "machine_niced_percent": statistics.median(run["machine_niced_percent"] for run in mine),
                "sandbox_cpu_seconds": statistics.median(run["sandbox_cpu_seconds"] for run in mine),
            }
        )
    baseline = next((row["pages_per_second"] for row in rows if row["mode"] == "none"), None)
    for row in rows:
        row["vs_none"] = None if not baseline else row["pages_per_second"] / baseline
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| mode | runs | pages | items | files | pages/s | vs none | lag p50 ms | lag p99 ms | lag max ms | "
        "loop CPU/tick p99 ms | loop CPU/tick max ms | crawl CPU s | machine CPU % (niced) | sandbox CPU s | "
        "crawl+files s | first search page s | search step s | tail s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ratio = "" if row["vs_none"] is None else f"{row['vs_none']:.2f}"
        lines.append(
            f"| {row['mode']} | {row['runs']} | {row['pages']} | {row['items']} | {row['files']} | "
            f"{row['pages_per_second']:.1f} | {ratio} | {row['lag_p50_ms']:.1f} | {row['lag_p99_ms']:.1f} | "
            f"{row['lag_max_ms']:.0f} | {row['loop_cpu_p99_ms']:.1f} | {row['loop_cpu_max_ms']:.0f} | "
            f"{row['crawl_cpu_seconds']:.2f} | "
            f"{row['machine_cpu_percent']:.0f} ({row['machine_niced_percent']:.0f}) | "
            f"{row['sandbox_cpu_seconds']:.2f} | {row['total_seconds']:.1f} | "
            f"{row['first_listing_seconds']:.2f} | {row['listing_step_seconds']:.3f} | "
            f"{row['tail_seconds']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--max-pages", type=int, default=2, help="search pages (20 results + 2 sponsored each)"
    )
    parser.add_argument("--pdf-pages", type=int, default=200, help="pages of every product's PDF")
    parser.add_argument("--query", default="samsung")
    parser.add_argument(
        "--latency-ms", type=int, default=0, help="the sandbox waits this long before every answer"
    )
    parser.add_argument("--repeat", type=int, default=3, help="crawls per mode (medians reported)")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--json", type=Path, help="also write the runs and the summary here")
    parser.add_argument(
        "--keep-logs",
        type=Path,
        help="copy each crawl's log here as MODE-REPEAT.log (the throttle's reasons)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a Scrapy setting for every crawl of the run (repeatable), e.g. to measure another value",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="LABEL:NAME=VALUE[,NAME=VALUE]",
        help="also run the pool mode with these settings as mode LABEL, beside the others (repeatable)",
    )
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--base-url", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for assignment in args.set:
        if "=" not in assignment or not assignment.split("=", 1)[0]:
            parser.error(f"--set wants NAME=VALUE, got {assignment!r}")
    try:
        variants = parse_variants(args.variant)
    except ValueError as exc:
        parser.error(str(exc))
    if args.child:
        extra = dict(assignment.split("=", 1) for assignment in args.set)
        crawl_once(args.child, args.base_url, args.query, args.max_pages, args.out, extra)
        return 0

    listed = [mode.strip() for mode in args.modes.split(",") if mode.strip()]
    unknown = [mode for mode in listed if mode not in MODES]
    if unknown:
        parser.error(f"--modes: unknown {', '.join(unknown)}; known: {', '.join(MODES)}")
    modes = listed + list(variants)
    runs: list[dict[str, Any]] = []
    with SandboxProcess(sites=(SITE,), pdf_pages=args.pdf_pages) as sandbox:
        base_url = sandbox.url(SITE)
        assert sandbox.pid is not None  # started by the with
        asins = expected_products(args.query, args.max_pages)
        print(f"expecting {len(asins)} items, {2 * len(asins)} files (a PDF and an image each)")
        if len(asins) <= PDF_CACHE_SIZE:
            warmed = warm_sandbox(sandbox.url(f"{SITE}-cdn"), asins)
            print(f"warming the sandbox: {warmed} PDFs and images")
        else:
            print(
                f"{len(asins)} products > the sandbox's PDF cache ({PDF_CACHE_SIZE}): file modes also pay "
                "for the sandbox generating every PDF on this machine"
            )
        if args.latency_ms:
            for origin in (SITE, f"{SITE}-cdn"):  # the site and its CDN
                sandbox.set_faults(origin, latency_ms=args.latency_ms)
            print(f"sandbox latency: {args.latency_ms} ms before every answer (site and CDN)")
        for repeat in range(args.repeat):
            for mode in modes:
                run = run_mode(mode, base_url, args, sandbox.pid, variants.get(mode), repeat + 1)
                runs.append(run)
                print(
                    f"[{repeat + 1}/{args.repeat}] {mode:6s} {run['pages']} pages, {run['items']} items, "
                    f"{run['pages_per_second']:.1f}/s, lag p50 {run['lag_p50_ms']:.1f} ms "
                    f"p99 {run['lag_p99_ms']:.1f} ms max {run['lag_max_ms']:.0f} ms, "
                    f"loop CPU/tick max {run['loop_cpu_max_ms']:.0f} ms, "
                    f"machine CPU {run['machine_cpu_percent']:.0f}% "
                    f"(niced {run['machine_niced_percent']:.0f}%), "
                    f"{run['files_done']} files done, {run['total_seconds']:.1f} s; first search page "
                    f"{run['first_listing_seconds']:.2f} s, search step "
                    f"{run['listing_step_seconds']:.3f} s, tail {run['tail_seconds']:.2f} s; "
                    f"concurrency at page answers min {run['concurrency_min']} mean "
                    f"{run['concurrency_mean']:.1f}, throttle steps down {run['throttle_scale_down']}, "
                    f"paused {run['throttle_paused_seconds']:.0f} s",
                    flush=True,
                )
    rows = summarise(runs, tuple(modes))
    print()
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "summary": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
