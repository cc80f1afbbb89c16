"""Redis settings (looqta/redisstore/config.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from scrapy.settings import Settings

from looqta import settings as project_settings
from looqta.redisstore.config import RedisConfig, RedisConfigError


def test_the_project_default_is_the_embedded_server_under_the_data_dir() -> None:
    config = RedisConfig.from_settings(Settings({"REDIS_URL": "", **_project("LOOQTA_REDIS_DATA_DIR")}))

    assert config.embedded
    assert config.data_dir == Path(project_settings.LOOQTA_DATA_DIR) / "redis"


def test_redis_url_set_is_not_embedded() -> None:
    config = RedisConfig.from_settings(Settings({"REDIS_URL": " redis://:pw@redis.internal:6379/0 "}))

    assert not config.embedded
    assert config.url == "redis://:pw@redis.internal:6379/0"


def test_every_problem_is_reported_at_once() -> None:
    settings = Settings(
        {
            "REDIS_URL": "http://redis.internal",
            "LOOQTA_REDIS_SERVER_START_TIMEOUT_SECONDS": 0,
            "LOOQTA_REDIS_CONNECT_TIMEOUT_SECONDS": -1,
        }
    )

    with pytest.raises(RedisConfigError) as error:
        RedisConfig.from_settings(settings)

    message = str(error.value)
    assert "REDIS_URL must start with" in message
    assert "LOOQTA_REDIS_SERVER_START_TIMEOUT_SECONDS must be > 0" in message
    assert "LOOQTA_REDIS_CONNECT_TIMEOUT_SECONDS must be > 0" in message


def _project(*names: str) -> dict[str, object]:
    return {name: getattr(project_settings, name) for name in names}
