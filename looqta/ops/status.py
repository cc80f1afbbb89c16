"""The crawls running on this machine, found through the metrics registry, with their live status."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import psutil
import requests

if TYPE_CHECKING:
    from pathlib import Path

logger = logging.getLogger(__name__)


def running_crawls(data_dir: Path) -> list[dict[str, Any]]:
    """Every registered crawl whose process is alive, with its ``/status.json`` (or the error reading it)."""
    crawls: list[dict[str, Any]] = []
    for path in sorted((data_dir / "crawls").glob("*.json")):
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # being written or removed right now
        if not psutil.pid_exists(int(entry.get("pid", -1))):
            path.unlink(missing_ok=True)  # a crawl that died without closing
            continue
        try:
            entry["status"] = requests.get(entry["status_url"], timeout=2).json()
        except (requests.RequestException, ValueError) as exc:
            entry["status_error"] = str(exc)
        crawls.append(entry)
    return crawls
