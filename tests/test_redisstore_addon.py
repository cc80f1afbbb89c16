"""EmbeddedRedisAddon: scrapy-redis, which reads the REDIS_URL setting, reaches the same Redis."""

from __future__ import annotations

from typing import TYPE_CHECKING

from scrapy.utils.test import get_crawler
from scrapy_redis.connection import get_redis_from_settings

from looqta.redisstore.addon import EmbeddedRedisAddon
from looqta.redisstore.server import read_state, stop_server

if TYPE_CHECKING:
    from pathlib import Path


def test_redis_url_empty_becomes_the_embedded_servers_url(tmp_path: Path) -> None:
    data_dir = tmp_path / "redis"
    settings = {"ADDONS": {EmbeddedRedisAddon: 0}, "REDIS_URL": "", "LOOQTA_REDIS_DATA_DIR": str(data_dir)}
    try:
        crawler = get_crawler(settings_dict=settings)
        state = read_state(data_dir.resolve())
        assert state is not None
        assert crawler.settings["REDIS_URL"] == state.url

        client = get_redis_from_settings(crawler.settings)  # scrapy-redis' own connection
        try:
            client.rpush("amazon:start_urls", "iphone 15")
            assert client.lrange("amazon:start_urls", 0, -1) == [b"iphone 15"]
        finally:
            client.close()
    finally:
        stop_server(data_dir)


def test_redis_url_set_is_kept_and_no_server_is_started(redis_url: str, tmp_path: Path) -> None:
    settings = {
        "ADDONS": {EmbeddedRedisAddon: 0},
        "REDIS_URL": redis_url,
        "LOOQTA_REDIS_DATA_DIR": str(tmp_path / "redis"),
    }

    crawler = get_crawler(settings_dict=settings)

    assert crawler.settings["REDIS_URL"] == redis_url
    assert not (tmp_path / "redis").exists()
