"""Run the canary's crawl: ``scrapy crawl SITE`` in a subprocess with the project's settings.

A subprocess keeps the crawl's reactor, logging and settings apart from the caller's. Nothing
is stored and no files are fetched (``LOOQTA_STORE_ENABLED`` / ``LOOQTA_FILES_ENABLED`` off),
so the only traffic goes to the site's base URL (robots.txt, search pages, product pages).
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from looqta.sandbox.profile import SANDBOX_SETTINGS

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SETTINGS_MODULE = "looqta.settings"
#: What the canary changes in the project's settings for every crawl.
CANARY_SETTINGS: dict[str, Any] = {
    "LOOQTA_STORE_ENABLED": False,
    "LOOQTA_FILES_ENABLED": False,
    "LOOQTA_HEALTH_ENABLED": True,
    "LOG_LEVEL": "INFO",
}


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Canary:
    """One canary crawl: which site, where, what to search, how deep."""

    site: str
    base_url: str
    q: str = "iphone"
    pages: int = 1
    details: bool = False
    #: The sandbox's settings (no politeness delays): only ever for a local mirror.
    sandbox_profile: bool = False
    settings: dict[str, Any] = field(default_factory=dict)

    def spider_args(self) -> dict[str, str]:
        args = {"q": self.q, "max_pages": str(self.pages), "base_url": self.base_url, "job": "manual"}
        if self.details:
            args["details"] = "1"
        return args

    def crawl_settings(self, stats_file: Path) -> dict[str, Any]:
        profile = SANDBOX_SETTINGS if self.sandbox_profile else {}
        return {**profile, **CANARY_SETTINGS, "LOOQTA_STATS_FILE": str(stats_file), **self.settings}

    def command(self, stats_file: Path) -> list[str]:
        command = [sys.executable, "-m", "scrapy", "crawl", self.site]
        for name, value in self.spider_args().items():
            command += ["-a", f"{name}={value}"]
        for name, value in self.crawl_settings(stats_file).items():
            text = json.dumps(value) if isinstance(value, (dict, list, bool)) else str(value)
            command += ["-s", f"{name}={text}"]
        return command


@dataclass
class CrawlOutcome:
    returncode: int
    log: str
    stats: dict[str, Any] | None


def run(canary: Canary, timeout_seconds: float) -> CrawlOutcome:
    """Crawl and return the final stats (``None`` when the crawl left none: it failed to start)."""
    env = {
        **os.environ,
        "SCRAPY_SETTINGS_MODULE": SETTINGS_MODULE,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
    }
    with tempfile.TemporaryDirectory(prefix="looqta-check-") as workdir:
        stats_file = Path(workdir) / "stats.json"
        done = subprocess.run(
            canary.command(stats_file),
            cwd=PROJECT_ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout_seconds,
            check=False,
        )
        stats = json.loads(stats_file.read_text()) if stats_file.exists() else None
    return CrawlOutcome(done.returncode, done.stderr, stats)
