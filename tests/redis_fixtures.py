"""Redis for the tests: a real ``redis-server`` on 127.0.0.1, or ``LOOQTA_TEST_REDIS_URL``.

By default the session starts the embedded server (looqta/redisstore/server.py) with its files in
a temporary directory, and stops it when the session ends. With ``LOOQTA_TEST_REDIS_URL`` set, the
same tests use that server instead; its database is flushed by ``redis_client``, so never point it
at a Redis holding anything of value (pytest-xdist worker k uses database N + k of it: workers.py).
Registered in conftest.py (``pytest_plugins``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest
import redis
from workers import worker_redis_url

from looqta.redisstore.config import RedisConfig
from looqta.redisstore.server import ensure_server, stop_server

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

EXTERNAL_URL = os.environ.get("LOOQTA_TEST_REDIS_URL", "")
_SESSION_DIR = pytest.StashKey["Path"]()


@pytest.fixture(scope="session", name="redis_url")
def redis_url_fixture(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL (with its password) of the session's Redis: ``LOOQTA_TEST_REDIS_URL`` when set."""
    if EXTERNAL_URL:
        return worker_redis_url(EXTERNAL_URL)
    data_dir = pytestconfig.stash.get(_SESSION_DIR, None)
    if data_dir is None:
        data_dir = tmp_path_factory.mktemp("redis")
        pytestconfig.stash[_SESSION_DIR] = data_dir
        pytestconfig.add_cleanup(lambda: stop_server(data_dir))
    return ensure_server(data_dir).url


@pytest.fixture(name="redis_config")
def redis_config_fixture(redis_url: str, tmp_path: Path) -> RedisConfig:
    """Settings that point looqta's code at the session's Redis (``REDIS_URL`` set: no server started)."""
    return RedisConfig(url=redis_url, data_dir=tmp_path / "redis-unused")


@pytest.fixture(name="redis_client")
def redis_client_fixture(redis_url: str) -> Iterator[redis.Redis]:
    """A blocking client on the session's Redis, its database flushed before and after the test."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    try:
        yield client
    finally:
        client.flushdb()
        client.close()
