"""Reaching Redis (looqta/redisstore/client.py): REDIS_URL set, or the embedded server; same client code."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest
import redis

from looqta.redisstore.client import connect, connect_sync, redact, server_url
from looqta.redisstore.config import RedisConfig
from looqta.redisstore.server import read_state, stop_server

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(name="embedded_config")
def embedded_config_fixture(tmp_path: Path) -> Iterator[RedisConfig]:
    """``REDIS_URL`` empty: the embedded server of a data dir of this test's own, stopped afterwards."""
    config = RedisConfig(url="", data_dir=tmp_path / "redis")
    yield config
    stop_server(config.data_dir)


async def round_trip(config: RedisConfig) -> list[bytes]:
    client = await connect(config)
    try:
        await client.rpush("searches:manual", "iphone 15")
        return await client.lrange("searches:manual", 0, -1)
    finally:
        await client.aclose()


def test_redis_url_set_starts_no_server(redis_config: RedisConfig, redis_client: redis.Redis) -> None:
    assert asyncio.run(round_trip(redis_config)) == [b"iphone 15"]
    with connect_sync(redis_config) as client:
        assert client.lrange("searches:manual", 0, -1) == [b"iphone 15"]

    assert server_url(redis_config) == redis_config.url
    assert not redis_config.data_dir.exists()
    assert redis_client.lrange("searches:manual", 0, -1) == ["iphone 15"]


def test_redis_url_empty_starts_the_embedded_server_once(embedded_config: RedisConfig) -> None:
    assert asyncio.run(round_trip(embedded_config)) == [b"iphone 15"]
    state = read_state(embedded_config.data_dir.resolve())
    assert state is not None

    with connect_sync(embedded_config) as client:
        assert client.lrange("searches:manual", 0, -1) == [b"iphone 15"]

    assert read_state(embedded_config.data_dir.resolve()) == state
    assert server_url(embedded_config) == state.url


def test_an_unreachable_redis_url_fails_at_connect(tmp_path: Path) -> None:
    config = RedisConfig(url="redis://127.0.0.1:1/0", data_dir=tmp_path, connect_timeout_seconds=1)

    with pytest.raises(redis.ConnectionError):
        connect_sync(config)
    with pytest.raises(redis.ConnectionError):
        asyncio.run(connect(config))


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:s3cr%2Ft@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
        ("rediss://looqta:s3cret@redis.example:6380/2", "rediss://looqta:***@redis.example:6380/2"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
    ],
)
def test_redact(url: str, shown: str) -> None:
    assert redact(url) == shown


def test_the_fixture_client_starts_on_an_empty_database(redis_client: redis.Redis) -> None:
    assert redis_client.dbsize() == 0
    redis_client.set("left:behind", "1")  # flushed after the test, and before the next one
