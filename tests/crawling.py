"""Run a real ``scrapy crawl`` (or ``runspider``) in a subprocess and read what it left."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from looqta.sandbox.profile import SANDBOX_SETTINGS

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CRAWL_TIMEOUT_SECONDS = 180

#: Settings of every crawl a test starts: the sandbox profile, and no resource throttle (on a
#: shared 2-core machine it would hold crawls at their minimum; its own tests turn it on).
TEST_CRAWL_SETTINGS: dict[str, Any] = {**SANDBOX_SETTINGS, "LOOQTA_THROTTLE_ENABLED": False}

#: Environment of every crawl a test starts: the session's MongoDB test server and a
#: data directory of its own (filled in by the ``crawl_env`` fixture in conftest.py).
CRAWL_ENV: dict[str, str] = {}


def crawl_env(pythonpath: tuple[Path, ...] = ()) -> dict[str, str]:
    """``os.environ`` for a test's crawl subprocess: the project importable (then ``pythonpath``),
    the test store."""
    path = os.pathsep.join(map(str, (PROJECT_ROOT, *pythonpath)))
    return {**os.environ, **CRAWL_ENV, "PYTHONPATH": path}


@dataclass
class CrawlResult:
    returncode: int
    stdout: str
    stderr: str
    items: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    feed: Path | None = None

    def stat(self, key: str) -> Any:
        return self.stats.get(key, 0)


def setting_args(settings: dict[str, Any]) -> list[str]:
    args: list[str] = []
    for name, value in settings.items():
        text = json.dumps(value) if isinstance(value, (dict, list, bool)) else str(value)
        args += ["-s", f"{name}={text}"]
    return args


def run_crawl(
    target: str,
    tmp_path: Path,
    *,
    spider_args: dict[str, Any] | None = None,
    settings: dict[str, Any] | None = None,
    feed_format: str = "json",
    runspider: bool = False,
    timeout: float = CRAWL_TIMEOUT_SECONDS,
    pythonpath: tuple[Path, ...] = (),
) -> CrawlResult:
    """``scrapy crawl <target>`` (or ``scrapy runspider <file>``) against the sandbox.

    The sandbox profile (no politeness delays) applies unless ``settings`` says otherwise.
    """
    feed = tmp_path / f"items.{feed_format}"
    stats_file = tmp_path / "stats.json"
    all_settings = {**TEST_CRAWL_SETTINGS, "LOOQTA_STATS_FILE": str(stats_file), **(settings or {})}
    command = [sys.executable, "-m", "scrapy", "runspider" if runspider else "crawl", target]
    for name, value in (spider_args or {}).items():
        command += ["-a", f"{name}={value}"]
    command += ["-O", str(feed), *setting_args(all_settings)]
    done = subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        env=crawl_env(pythonpath),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    result = CrawlResult(done.returncode, done.stdout, done.stderr, feed=feed)
    if stats_file.exists():
        result.stats = json.loads(stats_file.read_text())
    if feed.exists() and feed.stat().st_size:
        if feed_format == "json":
            result.items = json.loads(feed.read_text())
        elif feed_format == "csv":
            with feed.open(newline="") as handle:
                result.items = list(csv.DictReader(handle))
    return result
