"""The README's main job, end to end: sandbox, both spiders through the browser, feeds, summary."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from typing import TYPE_CHECKING

from crawling import PROJECT_ROOT

from looqta.sandbox.catalogue import Catalogue

if TYPE_CHECKING:
    from pathlib import Path


def test_demo_crawls_both_sites_and_writes_json_and_csv_feeds(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "looqta.demo",
            "-q",
            "iphone 15 pro max",
            "--max-pages",
            "1",
            "--output",
            str(tmp_path),
        ],
        cwd=PROJECT_ROOT,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    expected = {site: len(Catalogue(site).search_all("iphone 15 pro max")) for site in ("amazon", "noon")}
    for site, count in expected.items():
        items = json.loads((tmp_path / f"{site}.json").read_text())
        with (tmp_path / f"{site}.csv").open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert len(items) == len(rows) == count
        assert {i["source_id"] for i in items} == {r["source_id"] for r in rows}
    summary = done.stdout
    assert "looqta demo finished in" in summary
    for site, count in expected.items():
        assert re.search(rf"^{site}\s+{count}\s+0\s+\d+\s+\d+$", summary, re.MULTILINE), summary
    for site in expected:  # progress was logged, per site, while it ran
        assert re.search(rf"\[{site}\] \d+ pages \(\d+ rendered, \d+ plain", done.stderr), done.stderr[-2000:]
