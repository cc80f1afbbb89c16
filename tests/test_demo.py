"""The README's main job, end to end: sandbox, both spiders through the browser, feeds, store, summary."""

from __future__ import annotations

import csv
import json
import os
import re
import stat
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from crawling import PROJECT_ROOT
from pymongo import MongoClient
from pymongo.errors import OperationFailure
from test_spider_amazon import expected_offers as amazon_offers
from test_spider_noon import expected_offers as noon_offers

from looqta.store.embedded import read_state
from looqta.store.secret import SECRET_FILE

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

QUERY = "iphone 15 pro max"


def run(*args: str, env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip


@pytest.fixture
def demo_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """No MONGO_URI: the demo must start its own embedded store, under a temporary data dir."""
    data = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "LOOQTA_DATA_DIR": str(data), "MONGO_URI": ""}
    yield env
    run("looqta.store", "--data-dir", str(data / "mongo"), "server", "stop", env=env, timeout=60)


def test_demo_crawls_both_sites_writes_feeds_and_stores_items(
    tmp_path: Path, demo_env: dict[str, str]
) -> None:
    output = tmp_path / "output"
    done = run("looqta.demo", "-q", QUERY, "--max-pages", "1", "--output", str(output), env=demo_env)
    assert done.returncode == 0, done.stderr[-3000:]
    expected = {"amazon": len(amazon_offers(QUERY, 1)), "noon": len(noon_offers(QUERY, 1))}
    for site, count in expected.items():
        lines = (output / f"{site}.jsonl").read_text().splitlines()
        items = [json.loads(line) for line in lines]  # JSON Lines: one item per line
        with (output / f"{site}.csv").open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert len(items) == len(rows) == count
        assert {i["source_id"] for i in items} == {r["source_id"] for r in rows}
        for row in rows:  # list and record columns are JSON, as in the JSON Lines feed
            item = next(i for i in items if i["source_id"] == row["source_id"])
            assert json.loads(row["image_urls"]) == item["image_urls"]
            assert json.loads(row["files"]) == item["files"]
        assert any(record["reason"] is None for row in rows for record in json.loads(row["files"]))
    health = {site: json.loads((output / f"{site}.stats.json").read_text()) for site in expected}
    # Two crawls in one process: each is judged on its own checks (Spidermon shares its meta).
    assert health["amazon"]["looqta/health/checks"] == health["noon"]["looqta/health/checks"] > 0
    summary = done.stdout
    assert "looqta demo finished in" in summary
    for site in expected:  # each site's health verdict is on the terminal, as in its stats
        assert health[site]["looqta/health/summary"] in summary
    log = output / "demo.log"
    assert re.search(rf"^log: +{re.escape(str(log))} \(\d+ errors, \d+ warnings\)$", summary, re.MULTILINE)
    assert f"feeds: {output}/" in summary
    # The terminal has the summary and the progress lines; the stats dumps stay in the log file.
    terminal, log_text = done.stdout + done.stderr, log.read_text()
    assert "Dumping Scrapy stats" not in terminal
    assert "'item_scraped_count'" not in terminal
    assert log_text.count("Dumping Scrapy stats") == len(expected)
    stray = [line for line in done.stderr.splitlines() if not line.startswith("[demo] ")]
    assert not stray, stray[:20]
    for site, count in expected.items():
        assert re.search(rf"^{site}\s+{count}\s+0\s+\d+\s+\d+\s+\d+$", summary, re.MULTILINE), summary
    # The challenge moved amazon's search pages to the browser by itself.
    assert "moved to the browser at run time: search pages" in summary
    for site in expected:  # progress was logged, per site, while it ran
        assert re.search(rf"\[{site}\] \d+ pages \(\d+ rendered, \d+ plain", done.stderr), done.stderr[-2000:]
    # Each crawl froze its start-up objects out of full garbage collections (gcfreeze).
    assert len(re.findall(r"\d+ objects alive at engine start frozen", log_text)) == len(expected)
    # ...and the items are in the embedded MongoDB-wire server the demo started by itself.
    mongo_dir = str(tmp_path / "data" / "mongo")
    found = run(
        "looqta.store", "--data-dir", mongo_dir, "search", *QUERY.split(), "--limit", "100", env=demo_env
    )
    assert found.returncode == 0, found.stderr
    for site, count in expected.items():
        assert found.stdout.count(f" {site} ") == count, found.stdout
    # No telnet console: nothing listened for it, no password was logged.
    assert "telnet" not in log_text.lower()
    for site in expected:
        assert not (output / f"{site}.json").exists()  # JSON Lines only
    # The data dir is its owner's alone: directories 0700, files 0600 (store, spool, file queue,
    # objects, crawl registry, logs), after two crawls and the store server they started; the
    # browser's launcher (looqta/browser_user.py) is an executable 0700.
    data = tmp_path / "data"
    modes = {path: stat.S_IMODE(path.stat().st_mode) for path in [data, *data.rglob("*")]}
    assert len(modes) > 20
    wrong = {
        str(path.relative_to(data)): oct(mode)
        for path, mode in modes.items()
        if mode != (0o700 if path.is_dir() or path.parent.name == "browser" else 0o600)
    }
    assert not wrong, wrong
    # The store server requires its password (SCRAM-SHA-256), kept 0600 beside its data.
    state = read_state(data / "mongo")
    assert state is not None
    assert state.password
    assert stat.S_IMODE((data / "mongo" / SECRET_FILE).stat().st_mode) == 0o600
    anonymous = f"mongodb://127.0.0.1:{state.port}/?directConnection=true"
    with (
        MongoClient(anonymous, serverSelectionTimeoutMS=5000) as client,
        pytest.raises(OperationFailure, match="requires authentication"),
    ):
        client.looqta.offers.find_one()
    with MongoClient(state.uri, serverSelectionTimeoutMS=5000) as client:
        assert client.looqta.offers.count_documents({}) >= sum(expected.values())
