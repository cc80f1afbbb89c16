"""``python -m looqta.store`` run as a user runs it: a subprocess against the test server."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from itemadapter import ItemAdapter
from mongo_fixtures import PROJECT_ROOT, make_item, python_env, run, wait_for
from pymongo import AsyncMongoClient

from looqta.store.documents import to_document
from looqta.store.embedded import process_running, stop_server
from looqta.store.repository import ProductRepository

if TYPE_CHECKING:
    from pathlib import Path


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "looqta.store", *args],
        cwd=PROJECT_ROOT,
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def stocked(mongo_uri: str, mongo_db: str) -> list[str]:
    """The test database with a few offers from two sites, and the CLI options that point at it."""
    offers = [
        make_item(1, title="Apple iPhone 15 128GB Black", price=Decimal("3199.00")),
        make_item(2, title="Apple iPhone 15 128GB", price=Decimal("2949.00"), source="noon", source_id="N1"),
        make_item(3, title="iPhone 15 silicone case", price=Decimal("79.00")),
        make_item(4, title="Samsung Galaxy S24", price=Decimal("2599.00")),
    ]

    async def seed() -> None:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
        repository = ProductRepository(client[mongo_db])
        try:
            await repository.ensure_indexes()
            docs = [
                to_document(ItemAdapter(o), max_field_bytes=1000, max_document_bytes=10_000) for o in offers
            ]
            await repository.upsert(docs, "c1", datetime(2026, 1, 1, tzinfo=UTC))
            cheaper = make_item(
                1,
                title="Apple iPhone 15 128GB Black",
                price=Decimal("2899.00"),
                scraped_at="2026-02-01T10:00:00+00:00",
            )
            await repository.upsert(
                [to_document(ItemAdapter(cheaper), max_field_bytes=1000, max_document_bytes=10_000)],
                "c2",
                datetime(2026, 2, 1, tzinfo=UTC),
            )
        finally:
            await client.close()

    run(seed())
    return ["--uri", mongo_uri, "--database", mongo_db]


def test_search_lists_the_cheapest_matching_offers_across_sites(stocked: list[str]) -> None:
    done = cli(*stocked, "search", "iphone", "15", "128gb")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:4] == ["PRICE", "CUR", "SOURCE", "ID"]
    rows = [line.split()[:4] for line in lines[1:]]
    assert rows == [["2899.00", "AED", "amazon", "B000000001"], ["2949.00", "AED", "noon", "N1"]]


def test_search_limit_keeps_the_cheapest(stocked: list[str]) -> None:
    done = cli(*stocked, "search", "iPhone", "--limit", "1")
    assert done.returncode == 0, done.stderr
    assert [line.split()[0] for line in done.stdout.splitlines()[1:]] == ["79.00"]


def test_search_without_a_match_says_so(stocked: list[str]) -> None:
    done = cli(*stocked, "search", "nokia")
    assert done.returncode == 1
    assert "No offer matches 'nokia'" in done.stderr


def test_history_lists_each_price_change_oldest_first(stocked: list[str]) -> None:
    done = cli(*stocked, "history", "amazon", "B000000001")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "amazon:B000000001  Apple iPhone 15 128GB Black"
    assert lines[1].startswith("now 2899.00 AED, last seen 2026-02-01 10:00")
    assert [line.split()[-2:] for line in lines[3:]] == [["3199.00", "AED"], ["2899.00", "AED"]]


def test_history_of_an_unknown_product_says_so(stocked: list[str]) -> None:
    done = cli(*stocked, "history", "amazon", "NOPE")
    assert done.returncode == 1
    assert "No product amazon:NOPE in the store" in done.stderr


def test_an_unreachable_store_is_a_clear_error(tmp_path: Path) -> None:
    done = cli(
        "--uri", "mongodb://127.0.0.1:9", "-s", "LOOQTA_STORE_CONNECT_TIMEOUT_SECONDS=0.3", "search", "x"
    )
    assert done.returncode == 2
    assert done.stderr.startswith("looqta.store: the store did not answer: 127.0.0.1:9")
    assert "Traceback" not in done.stderr


def test_bad_arguments_and_settings_are_clear_errors() -> None:
    bad_uri = cli("--uri", "http://x", "search", "iphone")
    assert bad_uri.returncode == 2
    assert "MONGO_URI must start with mongodb://" in bad_uri.stderr
    bad_limit = cli("search", "iphone", "--limit", "0")
    assert bad_limit.returncode == 2
    assert "--limit must be >= 1" in bad_limit.stderr


def test_server_start_status_stop(tmp_path: Path) -> None:
    options = ["--uri", "", "--data-dir", str(tmp_path / "mongo")]
    try:
        assert cli(*options, "server", "status").returncode == 1
        started = cli(*options, "server", "start")
        assert started.returncode == 0, started.stderr
        assert started.stdout.startswith("running  pid ")
        status = cli(*options, "server", "status")
        assert status.returncode == 0
        assert status.stdout == started.stdout
        password = (tmp_path / "mongo" / "server.secret").read_text().strip()
        assert password not in status.stdout + started.stdout  # the URI is printed redacted
        stopped = cli(*options, "server", "stop")
        assert stopped.returncode == 0
        assert stopped.stdout.startswith("Stopped the store server pid ")
        assert cli(*options, "server", "status").stdout.startswith("No store server is running")
    finally:
        stop_server(tmp_path / "mongo")


def test_a_server_started_with_an_idle_time_setting_exits_without_clients(tmp_path: Path) -> None:
    data_dir = tmp_path / "mongo"
    options = ["--uri", "", "--data-dir", str(data_dir), "-s", "LOOQTA_STORE_SERVER_IDLE_SECONDS=1"]
    try:
        started = cli(*options, "server", "start")
        assert started.returncode == 0, started.stderr
        pid = int(started.stdout.split()[2])
        wait_for(lambda: not process_running(pid), timeout=15.0)  # the setting reached the server
        assert "No client for 1 s: stopping" in (data_dir / "server.log").read_text()
        assert cli(*options, "server", "status").stdout.startswith("No store server is running")
    finally:
        stop_server(data_dir)


def test_server_commands_refuse_when_mongo_uri_is_set(mongo_uri: str) -> None:
    done = cli("--uri", mongo_uri, "server", "stop")
    assert done.returncode == 1
    assert "looqta runs no server of its own" in done.stderr
