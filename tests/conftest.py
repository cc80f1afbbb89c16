"""Shared fixtures. The sandbox runs once per session on free loopback ports.

Under pytest-xdist (deploy/test.sh) each worker is a session of its own: its own sandbox, store
server and Redis, each on free ports with its files in the worker's temporary directory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import crawling
import pytest
from workers import worker_number

from looqta.sandbox.client import SandboxProcess

# The MongoDB-wire test server and the Redis server (one each per session), and their helpers.
pytest_plugins = ("mongo_fixtures", "redis_fixtures")

if TYPE_CHECKING:
    from collections.abc import Iterator


@pytest.fixture(scope="session")
def sandbox() -> Iterator[SandboxProcess]:
    """A started ``python -m looqta.sandbox`` (default options: both sites, 10,000 products)."""
    with SandboxProcess() as process:
        yield process


@pytest.fixture
def clean_sandbox(sandbox: SandboxProcess) -> Iterator[SandboxProcess]:
    """The session sandbox with no faults and an empty request log, before and after the test."""
    sandbox.clear_faults()
    sandbox.clear_requests()
    yield sandbox
    sandbox.clear_faults()
    sandbox.clear_requests()


@pytest.fixture(scope="session", autouse=True)
def crawl_env(mongo_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every crawl a test starts stores into the session's test server, state in a temporary directory."""
    crawling.CRAWL_ENV.update(
        {
            "MONGO_URI": mongo_uri,
            "MONGO_DATABASE": f"crawls{worker_number() or ''}",  # a database per worker on a shared server
            "LOOQTA_DATA_DIR": str(tmp_path_factory.mktemp("crawl-data")),
        }
    )
    yield
    crawling.CRAWL_ENV.clear()
