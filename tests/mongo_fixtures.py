"""Fixtures and helpers for the store tests: a real MongoDB-wire server on loopback.

By default a session fixture runs SecantusDB (``python -m looqta.store.embedded``)
on a free port with its storage in a temporary directory. With
``LOOQTA_TEST_MONGO_URI`` set, the same tests use that server instead (a real
MongoDB); only the tests that stop and restart the server are skipped then.
Every test gets a database of its own, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from pymongo import MongoClient

from looqta.items import ProductItem
from looqta.store.embedded import ForegroundServer

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Iterator

PROJECT_ROOT = Path(__file__).resolve().parents[1]
EXTERNAL_URI = os.environ.get("LOOQTA_TEST_MONGO_URI", "")


def wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout} s: {predicate}")
        time.sleep(interval)


async def async_wait_for(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """``wait_for`` for code running on the event loop."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout} s: {predicate}")
        await asyncio.sleep(interval)


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def python_env() -> dict[str, str]:
    paths = [str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in paths if path)}


#: The tests' own server: started, stopped and restarted by a test (a store outage).
ServerProcess = ForegroundServer


_SESSION_SERVER = pytest.StashKey[ServerProcess]()


@pytest.fixture(scope="session", name="mongo_uri")
def mongo_uri_fixture(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URI of the session's server (``LOOQTA_TEST_MONGO_URI`` when set).

    Test modules import this fixture; the server is kept in the pytest config's stash
    so that every module shares one, stopped when the session ends.
    """
    if EXTERNAL_URI:
        return EXTERNAL_URI
    server = pytestconfig.stash.get(_SESSION_SERVER, None)
    if server is None:
        server = ServerProcess(tmp_path_factory.mktemp("mongo")).start()
        pytestconfig.stash[_SESSION_SERVER] = server
        pytestconfig.add_cleanup(server.stop)
    return server.uri


@pytest.fixture(name="mongo_db")
def mongo_db_fixture(mongo_uri: str) -> Iterator[str]:
    """A database name for this test alone, dropped afterwards."""
    name = f"looqta_test_{uuid.uuid4().hex[:12]}"
    yield name
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    try:
        client.drop_database(name)
    finally:
        client.close()


@pytest.fixture(name="db")
def db_fixture(mongo_uri: str, mongo_db: str) -> Iterator[Any]:
    """A synchronous pymongo handle on the test's database, to check what the code under test wrote."""
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri, tz_aware=True)
    try:
        yield client[mongo_db]
    finally:
        client.close()


@pytest.fixture(name="own_server")
def own_server_fixture(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server this test may stop and restart.

    SecantusDB only: a shared real MongoDB is not ours to stop.
    """
    if EXTERNAL_URI:
        pytest.skip("stops and restarts the server: runs against SecantusDB only")
    server = ServerProcess(tmp_path / "own-mongo").start()
    try:
        yield server
    finally:
        server.stop()


def store_settings(uri: str, database: str, tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """Pipeline settings for a test: the given server, a spool in ``tmp_path``, quick timeouts."""
    return {
        "MONGO_URI": uri,
        "MONGO_DATABASE": database,
        "LOOQTA_STORE_SPOOL_DIR": str(tmp_path / "spool"),
        "LOOQTA_STORE_DATA_DIR": str(tmp_path / "embedded"),
        "LOOQTA_STORE_BATCH_SIZE": 50,
        "LOOQTA_STORE_FLUSH_INTERVAL_SECONDS": 0.1,
        "LOOQTA_STORE_CONNECT_TIMEOUT_SECONDS": 0.5,
        "LOOQTA_STORE_RETRY_INITIAL_SECONDS": 0.1,
        "LOOQTA_STORE_RETRY_MAX_SECONDS": 0.5,
        **overrides,
    }


def make_item(number: int, **overrides: Any) -> ProductItem:
    fields: dict[str, Any] = {
        "source": "amazon",
        "source_id": f"B{number:09d}",
        "title": f"Apple iPhone {number % 7 + 11} {number}",
        "price": Decimal(1000 + number) / 100,
        "currency": "AED",
        "rating": Decimal("4.5"),
        "review_count": number,
        "url": f"http://127.0.0.1/dp/B{number:09d}",
        "image_urls": [f"http://127.0.0.1/img/{number}.jpg"],
        "scraped_at": "2026-01-02T03:04:05.678901+00:00",
        "job": "bulk",
        **overrides,
    }
    return ProductItem(**fields)
