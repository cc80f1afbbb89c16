from __future__ import annotations

from email.utils import formatdate

import pytest

from looqta.middlewares.retry_after import RetryAfterConfig, parse_retry_after
from scrapy.settings import Settings


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2", 2.0), (b"120", 120.0), (" 7 ", 7.0), ("", None), (None, None), ("soon", None)],
)
def test_parse_retry_after_seconds(value: str | bytes | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=1_000_000.0) == expected


def test_parse_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30, abs=1)
    assert parse_retry_after(formatdate(now - 30, usegmt=True), now=now) == 0.0


def test_config_refuses_contradictions() -> None:
    with pytest.raises(ValueError, match="MAX_RETRIES"):
        RetryAfterConfig.from_settings(Settings({"LOOQTA_RETRY_AFTER_MAX_RETRIES": -1}))
    with pytest.raises(ValueError, match="DEFAULT_SECONDS"):
        RetryAfterConfig.from_settings(
            Settings({"LOOQTA_RETRY_AFTER_DEFAULT_SECONDS": 600, "LOOQTA_RETRY_AFTER_MAX_SECONDS": 60})
        )
