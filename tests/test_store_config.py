from __future__ import annotations

from pathlib import Path

import pytest
from scrapy.settings import Settings

from looqta.store.config import StoreConfig, StoreConfigError


def test_defaults_use_the_embedded_server() -> None:
    config = StoreConfig.from_settings(Settings())
    assert config.embedded
    assert config.database == "looqta"
    assert config.data_dir == Path(".looqta/mongo")
    assert config.batch_size == 500
    assert config.server_idle_seconds == 600.0
    assert config.spool_max_bytes == 1024**3


def test_settings_are_read_with_their_types() -> None:
    config = StoreConfig.from_settings(
        Settings(
            {
                "MONGO_URI": " mongodb://db.internal:27017 ",
                "MONGO_DATABASE": "prices",
                "LOOQTA_STORE_BATCH_SIZE": "200",
                "LOOQTA_STORE_FLUSH_INTERVAL_SECONDS": "0.5",
                "LOOQTA_STORE_SPOOL_DIR": "/var/spool/looqta",
                "LOOQTA_STORE_ENABLED": "False",
                "LOOQTA_STORE_SERVER_IDLE_SECONDS": "0",
                "LOOQTA_STORE_SPOOL_MAX_BYTES": "2097152",
                "LOOQTA_STORE_MATCH_RECONCILE_ENABLED": "0",
                "LOOQTA_STORE_MATCH_RECONCILE_SECONDS": "15",
                "LOOQTA_STORE_MATCH_RECONCILE_MAX_OFFERS": "500",
            }
        )
    )
    assert not config.embedded
    assert config.uri == "mongodb://db.internal:27017"
    assert (config.database, config.batch_size, config.flush_interval_seconds) == ("prices", 200, 0.5)
    assert config.spool_dir == Path("/var/spool/looqta")
    assert config.enabled is False
    assert config.server_idle_seconds == 0.0  # never
    assert config.spool_max_bytes == 2 * 1024 * 1024
    assert (config.match_reconcile_enabled, config.match_reconcile_seconds) == (False, 15.0)
    assert config.match_reconcile_max_offers == 500


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"MONGO_URI": "http://localhost"}, "MONGO_URI must start with mongodb://"),
        ({"MONGO_DATABASE": "a.b"}, "is not a valid database name"),
        ({"LOOQTA_STORE_BATCH_SIZE": 0}, "LOOQTA_STORE_BATCH_SIZE must be within"),
        ({"LOOQTA_STORE_FLUSH_INTERVAL_SECONDS": 0}, "LOOQTA_STORE_FLUSH_INTERVAL_SECONDS must be > 0"),
        (
            {"LOOQTA_STORE_RETRY_INITIAL_SECONDS": 10, "LOOQTA_STORE_RETRY_MAX_SECONDS": 5},
            "LOOQTA_STORE_RETRY_MAX_SECONDS must be >= LOOQTA_STORE_RETRY_INITIAL_SECONDS",
        ),
        (
            {"LOOQTA_STORE_MAX_FIELD_BYTES": 4096, "LOOQTA_STORE_MAX_DOCUMENT_BYTES": 1024},
            "LOOQTA_STORE_MAX_FIELD_BYTES must be > 0 and < LOOQTA_STORE_MAX_DOCUMENT_BYTES",
        ),
        ({"LOOQTA_STORE_MAX_DOCUMENT_BYTES": 32 * 1024 * 1024}, "BSON limit"),
        ({"LOOQTA_STORE_SERVER_IDLE_SECONDS": -1}, "LOOQTA_STORE_SERVER_IDLE_SECONDS must be >= 0"),
        ({"LOOQTA_STORE_MATCH_RECONCILE_SECONDS": -1}, "LOOQTA_STORE_MATCH_RECONCILE_SECONDS must be >= 0"),
        (
            {"LOOQTA_STORE_MATCH_RECONCILE_MAX_OFFERS": 0},
            "LOOQTA_STORE_MATCH_RECONCILE_MAX_OFFERS must be >= 1",
        ),
        (
            {"LOOQTA_STORE_SPOOL_MAX_BYTES": 1000},
            "LOOQTA_STORE_SPOOL_MAX_BYTES must be >= LOOQTA_STORE_MAX_DOC",
        ),
        (
            {"LOOQTA_STORE_SPOOL_DIR": "/tmp/x", "LOOQTA_STORE_DATA_DIR": "/tmp/x/"},
            "must be different directories",
        ),
    ],
)
def test_contradictory_or_invalid_settings_fail_at_start_up(
    settings: dict[str, object], message: str
) -> None:
    with pytest.raises(StoreConfigError, match=message.replace("(", r"\(")):
        StoreConfig.from_settings(Settings(settings))


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(StoreConfigError) as caught:
        StoreConfig.from_settings(Settings({"LOOQTA_STORE_BATCH_SIZE": -1, "MONGO_URI": "redis://x"}))
    assert "LOOQTA_STORE_BATCH_SIZE" in str(caught.value)
    assert "MONGO_URI" in str(caught.value)
