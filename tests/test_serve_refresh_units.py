"""The background refresh's pure rules (which queries are due, how many may start, how asks age)
and its settings."""

from __future__ import annotations

import pytest
from scrapy.settings import Settings

from looqta.search.presence import PresenceConfig
from looqta.serve import asks
from looqta.serve.config import ServeConfig, ServeConfigError
from looqta.serve.refresh import Candidate, due, free_slots, is_due, tick_seconds

HOUR = 3600.0
NOW = 1_800_000_000.0


def candidate(query: str, asked: float, cached_ago: float | None, **fields: object) -> Candidate:
    cached_at = None if cached_ago is None else NOW - cached_ago
    values: dict = {"refreshed_at": None, "running": False, **fields}
    return Candidate(f"k-{query}", query, asked, cached_at, **values)


def test_a_query_is_due_once_its_cached_search_or_last_refresh_is_an_interval_old() -> None:
    assert is_due(candidate("tv", 3, cached_ago=HOUR), NOW, HOUR)
    assert not is_due(candidate("tv", 3, cached_ago=HOUR - 1), NOW, HOUR)
    # A refresh started 10 s ago whose search has not replaced the cache yet (or failed).
    assert not is_due(candidate("tv", 3, cached_ago=2 * HOUR, refreshed_at=NOW - 10), NOW, HOUR)
    assert is_due(candidate("tv", 3, cached_ago=2 * HOUR, refreshed_at=NOW - HOUR), NOW, HOUR)
    # A shopper's search (or a refresh) of it runs: nothing is pushed for it.
    assert not is_due(candidate("tv", 3, cached_ago=2 * HOUR, running=True), NOW, HOUR)
    # Nothing cached (its searches failed, or it expired): left to the next shopper's miss.
    assert not is_due(candidate("tv", 3, cached_ago=None), NOW, HOUR)


def test_due_takes_the_most_asked_due_queries_up_to_the_free_slots() -> None:
    candidates = [
        candidate("tv", 5, cached_ago=HOUR),
        candidate("laptop", 9, cached_ago=60),  # the most asked, but fresh
        candidate("camera", 7, cached_ago=2 * HOUR),
        candidate("phone", 6, cached_ago=HOUR, running=True),
        candidate("watch", 1, cached_ago=3 * HOUR),
    ]
    assert [c.query for c in due(candidates, NOW, HOUR, slots=2)] == ["camera", "tv"]
    assert [c.query for c in due(candidates, NOW, HOUR, slots=5)] == ["camera", "tv", "watch"]
    assert due(candidates, NOW, HOUR, slots=0) == []


def test_refreshes_start_under_the_concurrency_and_in_the_lower_half_of_the_in_flight_places() -> None:
    assert free_slots(refreshing=0, concurrency=2, in_flight=0, max_in_flight=8) == 2
    assert free_slots(refreshing=1, concurrency=2, in_flight=1, max_in_flight=8) == 1
    assert free_slots(refreshing=2, concurrency=2, in_flight=2, max_in_flight=8) == 0
    assert free_slots(refreshing=0, concurrency=2, in_flight=3, max_in_flight=8) == 1  # shoppers busy
    assert free_slots(refreshing=0, concurrency=2, in_flight=6, max_in_flight=8) == 0
    assert free_slots(refreshing=0, concurrency=2, in_flight=0, max_in_flight=1) == 0


def test_asks_count_fully_for_an_interval_then_fade_over_the_next() -> None:
    start = 100 * HOUR
    assert asks.windows(start, HOUR) == (100, 1.0)
    assert asks.windows(start + HOUR / 4, HOUR) == (100, 0.75)
    assert asks.windows(start + HOUR - 1, HOUR)[0] == 100
    assert asks.windows(start + HOUR, HOUR) == (101, 1.0)
    assert tick_seconds(HOUR) == 30.0
    assert tick_seconds(6.0) == pytest.approx(0.6)
    assert tick_seconds(0.5) == 0.2


def settings(**values: object) -> Settings:
    result = Settings()
    result.setmodule("looqta.settings", priority="project")
    result.setdict(values, priority="cmdline")
    return result


def test_refresh_settings_are_read_once_with_units() -> None:
    config = ServeConfig.from_settings(
        settings(LOOQTA_REFRESH_MINUTES="0.5", LOOQTA_REFRESH_CONCURRENCY="3", LOOQTA_REFRESH_TOP="7")
    )
    assert (config.refresh_interval_seconds, config.refresh_concurrency, config.refresh_top) == (30.0, 3, 7)
    defaults = ServeConfig.from_settings(settings())
    assert (defaults.refresh_interval_seconds, defaults.refresh_concurrency, defaults.refresh_top) == (
        3600.0,
        2,
        20,
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"LOOQTA_REFRESH_MINUTES": "soon"}, "LOOQTA_REFRESH_MINUTES must be a number, got 'soon'"),
        ({"LOOQTA_REFRESH_MINUTES": "0"}, "LOOQTA_REFRESH_MINUTES must be > 0, got 0"),
        (
            {"LOOQTA_REFRESH_CONCURRENCY": "1.5"},
            "LOOQTA_REFRESH_CONCURRENCY must be a whole number, got '1.5'",
        ),
        ({"LOOQTA_REFRESH_CONCURRENCY": "0"}, "LOOQTA_REFRESH_CONCURRENCY must be > 0, got 0"),
        ({"LOOQTA_REFRESH_TOP": "-1"}, "LOOQTA_REFRESH_TOP must be > 0, got -1"),
        (
            {"LOOQTA_REFRESH_MINUTES": "90", "LOOQTA_SEARCH_STALE_SECONDS": "0"},
            "a cached search would expire before its refresh is due",
        ),
    ],
)
def test_bad_refresh_settings_fail_at_start_with_the_setting_named(values: dict, message: str) -> None:
    with pytest.raises(ServeConfigError, match=message.replace(".", r"\.")):
        ServeConfig.from_settings(settings(**values))


def test_a_disabled_refresh_checks_none_of_its_settings() -> None:
    config = ServeConfig.from_settings(settings(LOOQTA_REFRESH_ENABLED="False", LOOQTA_REFRESH_TOP="0"))
    assert not config.refresh_enabled


def test_presence_settings_need_a_ttl_longer_than_the_interval() -> None:
    assert PresenceConfig.from_settings(settings()) == PresenceConfig(True, 2.0, 6.0)
    with pytest.raises(ValueError, match="shorter than LOOQTA_PRESENCE_TTL_SECONDS"):
        PresenceConfig.from_settings(
            settings(LOOQTA_PRESENCE_INTERVAL_SECONDS="5", LOOQTA_PRESENCE_TTL_SECONDS="5")
        )
