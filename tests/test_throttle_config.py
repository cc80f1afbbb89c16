"""The throttle's settings: the design's defaults, bounds that follow the settings they cap, loud errors."""

from __future__ import annotations

import os
import re

import pytest
from scrapy.settings import Settings

from looqta.throttle.config import ThrottleConfig, ThrottleConfigError


def config(**values: object) -> ThrottleConfig:
    return ThrottleConfig.from_settings(Settings(values))


def test_the_design_defaults() -> None:
    parsed = config(CONCURRENT_REQUESTS=16, PLAYWRIGHT_MAX_PAGES_PER_CONTEXT=4)
    assert (parsed.max_cpu_percent, parsed.max_memory_percent, parsed.min_free_memory_mib) == (80, 85, 1024)
    assert parsed.min_free_memory_bytes == 1024 * 1024 * 1024
    assert (parsed.min_concurrency, parsed.max_concurrency, parsed.start_concurrency) == (1, 16, 16)
    assert parsed.max_browser_pages == 4
    assert parsed.max_file_workers == (os.cpu_count() or 1)
    assert (parsed.check_interval_seconds, parsed.window_seconds, parsed.settle_seconds) == (1.0, 10.0, 3.0)
    assert (parsed.scale_up_step, parsed.scale_down_step) == (0.25, 0.25)
    assert parsed.reader == "looqta.throttle.sampler.PsutilReader"
    assert parsed.hold_file_tasks is True
    assert config(LOOQTA_THROTTLE_HOLD_FILE_TASKS="false").hold_file_tasks is False


def test_the_replaced_nice_cpu_setting_is_refused_with_its_successor_named() -> None:
    with pytest.raises(ThrottleConfigError, match="LOOQTA_THROTTLE_HOLD_FILE_TASKS"):
        config(LOOQTA_THROTTLE_COUNT_NICE_CPU=True)
    # Reported with every other problem, at once.
    with pytest.raises(ThrottleConfigError, match=r"MAX_CPU_PERCENT.*COUNT_NICE_CPU is gone"):
        config(LOOQTA_THROTTLE_COUNT_NICE_CPU=False, LOOQTA_THROTTLE_MAX_CPU_PERCENT=150)


def test_unset_bounds_follow_what_they_cap() -> None:
    parsed = config(
        CONCURRENT_REQUESTS=32,
        PLAYWRIGHT_MAX_PAGES_PER_CONTEXT=0,  # scrapy-playwright then allows CONCURRENT_REQUESTS
        LOOQTA_FILES_MAX_WORKERS=3,
        LOOQTA_THROTTLE_MIN_CONCURRENCY=2,
    )
    assert (parsed.min_concurrency, parsed.max_concurrency, parsed.start_concurrency) == (2, 32, 32)
    assert parsed.max_browser_pages == 32
    assert parsed.max_file_workers == 3


def test_every_setting_is_read_with_its_unit() -> None:
    parsed = config(
        LOOQTA_THROTTLE_CHECK_INTERVAL_SECONDS="0.5",
        LOOQTA_THROTTLE_WINDOW_SECONDS="6",
        LOOQTA_THROTTLE_SETTLE_SECONDS="1.5",
        LOOQTA_THROTTLE_MAX_CPU_PERCENT="70",
        LOOQTA_THROTTLE_MAX_MEMORY_PERCENT="90",
        LOOQTA_THROTTLE_MIN_FREE_MEMORY_MIB="512",
        LOOQTA_THROTTLE_MAX_TREE_MEMORY_MIB="0",
        LOOQTA_THROTTLE_MAX_LOOP_LAG_MS="50",
        LOOQTA_THROTTLE_MAX_RATE_LIMITED_PERCENT="5",
        LOOQTA_THROTTLE_OVERLOADED_SHARE="0.3",
        LOOQTA_THROTTLE_SCALE_UP_STEP="0.1",
        LOOQTA_THROTTLE_SCALE_DOWN_STEP="0.5",
        LOOQTA_THROTTLE_MAX_CONCURRENCY="8",
        LOOQTA_THROTTLE_START_CONCURRENCY="2",
        LOOQTA_THROTTLE_MAX_BROWSER_PAGES="3",
        LOOQTA_THROTTLE_MAX_FILE_WORKERS="2",
        LOOQTA_THROTTLE_RECYCLE_AFTER_PAGES="0",
        LOOQTA_THROTTLE_READER="tests.Reader",
    )
    assert parsed == ThrottleConfig(
        check_interval_seconds=0.5,
        window_seconds=6.0,
        settle_seconds=1.5,
        max_cpu_percent=70.0,
        max_memory_percent=90.0,
        min_free_memory_mib=512.0,
        max_tree_memory_mib=0.0,
        max_loop_lag_ms=50.0,
        max_rate_limited_percent=5.0,
        overloaded_share=0.3,
        scale_up_step=0.1,
        scale_down_step=0.5,
        min_concurrency=1,
        max_concurrency=8,
        start_concurrency=2,
        max_browser_pages=3,
        max_file_workers=2,
        recycle_after_pages=0,
        reader="tests.Reader",
    )
    assert parsed.max_tree_memory_bytes is None  # 0: no budget
    assert parsed.sample_keep_seconds == 7.0  # a window and two checks


def test_contradictions_fail_at_start_up_all_at_once() -> None:
    with pytest.raises(ThrottleConfigError) as raised:
        config(
            LOOQTA_THROTTLE_MIN_CONCURRENCY=8,
            LOOQTA_THROTTLE_MAX_CONCURRENCY=4,
            LOOQTA_THROTTLE_MAX_CPU_PERCENT=120,
            LOOQTA_THROTTLE_SETTLE_SECONDS=20,
        )
    message = str(raised.value)
    assert (
        "need 1 <= LOOQTA_THROTTLE_MIN_CONCURRENCY <= LOOQTA_THROTTLE_MAX_CONCURRENCY, got 8 and 4" in message
    )
    assert "LOOQTA_THROTTLE_MAX_CPU_PERCENT must be in (0, 100], got 120.0" in message
    assert "LOOQTA_THROTTLE_WINDOW_SECONDS must be >= LOOQTA_THROTTLE_SETTLE_SECONDS (20.0)" in message


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("LOOQTA_THROTTLE_MIN_CONCURRENCY", 0, "the crawl must always progress"),
        ("LOOQTA_THROTTLE_START_CONCURRENCY", 40, "LOOQTA_THROTTLE_START_CONCURRENCY must be in 1..16"),
        ("LOOQTA_THROTTLE_CHECK_INTERVAL_SECONDS", 0, "CHECK_INTERVAL_SECONDS must be > 0"),
        ("LOOQTA_THROTTLE_OVERLOADED_SHARE", 1, "OVERLOADED_SHARE must be in [0, 1)"),
        ("LOOQTA_THROTTLE_SCALE_DOWN_STEP", 0, "SCALE_DOWN_STEP must be in (0, 1]"),
        ("LOOQTA_THROTTLE_MIN_FREE_MEMORY_MIB", -1, "MIN_FREE_MEMORY_MIB must be >= 0"),
        ("LOOQTA_THROTTLE_RECYCLE_AFTER_PAGES", -5, "RECYCLE_AFTER_PAGES must be >= 0"),
    ],
)
def test_each_bad_value_is_named(name: str, value: object, expected: str) -> None:
    with pytest.raises(ThrottleConfigError, match=re.escape(expected)):
        config(CONCURRENT_REQUESTS=16, **{name: value})
