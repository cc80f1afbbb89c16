from __future__ import annotations

from email.utils import formatdate
from typing import TYPE_CHECKING

import pytest
from crawling import run_crawl
from scrapy.settings import Settings

from looqta.middlewares.retry_after import RetryAfterConfig, parse_retry_after

if TYPE_CHECKING:
    from pathlib import Path

    from looqta.sandbox.client import SandboxProcess


@pytest.mark.parametrize(
    ("value", "expected"),
    [("2", 2.0), (b"120", 120.0), (" 7 ", 7.0), ("", None), (None, None), ("soon", None)],
)
def test_parse_retry_after_seconds(value: str | bytes | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=1_000_000.0) == expected


@pytest.mark.parametrize(
    "value",
    ["²", b"\xb2", "١٢", "３", "-5", "+3", "1.5", "1e3", "0x10", "5 s", "Mon, 99 Foo 2023 xx:yy:zz GMT"],
)
def test_parse_retry_after_takes_ascii_digits_or_a_date_only(value: str | bytes) -> None:
    # str.isdigit() is True for "²" and "١٢", which float() then refuses: it raised before.
    assert parse_retry_after(value, now=1_000_000.0) is None


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


TWO_SITES = "tests/spiders/two_sites.py"
ONE_AT_A_TIME = {
    "DOWNLOAD_SLOTS": {"amazon": {"concurrency": 1, "delay": 0}, "noon": {"concurrency": 1, "delay": 0}},
    "ROBOTSTXT_OBEY": False,
    "ITEM_PIPELINES": {},
}


def test_retry_after_holds_that_site_only_while_the_other_keeps_going(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    clean_sandbox.set_faults("amazon", status=429, retry_after=2, times=1, path_prefix="/dp/")
    clean_sandbox.set_faults("noon", latency_ms=100)  # 30 pages: noon stays busy for ~3 s
    result = run_crawl(
        TWO_SITES,
        tmp_path,
        runspider=True,
        spider_args={"amazon": clean_sandbox.url("amazon"), "noon": clean_sandbox.url("noon")},
        settings=ONE_AT_A_TIME,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(i["status"] for i in result.items) == [200] * 34  # nothing lost: 4 amazon + 30 noon

    amazon = clean_sandbox.requests("amazon")
    (refused,) = [r for r in amazon if r["status"] == 429]
    after = [r["t"] for r in amazon if r["t"] > refused["t"]]
    assert min(after) - refused["t"] >= 2.0  # that site's next request waited out Retry-After
    noon_during = [r for r in clean_sandbox.requests("noon") if refused["t"] < r["t"] < refused["t"] + 2.0]
    assert len(noon_during) >= 10  # the other site kept going meanwhile (~1 per 100 ms)
    assert result.stat("looqta/retry_after/429") == 1
    assert result.stat("looqta/retry_after/count") == 1


def test_retries_are_bounded_then_the_error_is_handed_on(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    clean_sandbox.set_faults("amazon", status=503, retry_after=1, path_prefix="/dp/")
    result = run_crawl(
        TWO_SITES,
        tmp_path,
        runspider=True,
        spider_args={
            "amazon": clean_sandbox.url("amazon"),
            "noon": clean_sandbox.url("noon"),
            "amazon_pages": 1,
            "noon_pages": 1,
        },
        settings={**ONE_AT_A_TIME, "LOOQTA_RETRY_AFTER_MAX_RETRIES": 2},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    attempts = [r for r in clean_sandbox.requests("amazon") if r["path_qs"].startswith("/dp/")]
    assert len(attempts) == 3  # 1 + LOOQTA_RETRY_AFTER_MAX_RETRIES, and no second budget from RetryMiddleware
    assert attempts[-1]["t"] - attempts[0]["t"] >= 2.0
    assert result.stat("looqta/retry_after/max_reached") == 1
    assert [i["status"] for i in result.items] == [200]  # only noon's page made it


def refused_then_next(sandbox: SandboxProcess) -> tuple[float, float]:
    """When the site's one refused (429) request arrived, and how long until its next request did."""
    amazon = sandbox.requests("amazon")
    (refused,) = [r for r in amazon if r["status"] == 429]
    after = [r["t"] for r in amazon if r["t"] > refused["t"]]
    assert after, "the site was never asked again after its 429"
    return refused["t"], min(after) - refused["t"]


#: A cool-down measured in a crawl may run late on a loaded machine, never early.
LATE_MARGIN_SECONDS = 8.0


def test_a_retry_after_longer_than_the_cap_holds_the_site_for_the_cap_only(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    # Guards LOOQTA_RETRY_AFTER_MAX_SECONDS: a site asking for an hour is waited on for the cap.
    # A cap not applied would hold amazon for 3600 s: no retry before CLOSESPIDER_TIMEOUT.
    clean_sandbox.set_faults("amazon", status=429, retry_after=3600, times=1, path_prefix="/dp/")
    cap = 2.0
    result = run_crawl(
        TWO_SITES,
        tmp_path,
        runspider=True,
        spider_args={"amazon": clean_sandbox.url("amazon"), "noon": clean_sandbox.url("noon")},
        settings={
            **ONE_AT_A_TIME,
            "LOOQTA_RETRY_AFTER_MAX_SECONDS": cap,
            "LOOQTA_RETRY_AFTER_DEFAULT_SECONDS": 0.5,  # far below the cap: the header was read
            "CLOSESPIDER_TIMEOUT": 30,
        },
        timeout=60,  # a crawl of ~8 s; a site held for an hour never ends
    )
    assert result.returncode == 0, result.stderr[-3000:]
    _, waited = refused_then_next(clean_sandbox)
    assert cap <= waited < cap + LATE_MARGIN_SECONDS
    assert result.stat("looqta/retry_after/max_wait_seconds") == cap
    assert sorted(i["status"] for i in result.items) == [200] * 34  # the refused page was retried


def test_a_429_without_retry_after_cools_that_site_for_the_default(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    # Guards LOOQTA_RETRY_AFTER_DEFAULT_SECONDS: a bare 429 cools the site's slot down (only that
    # one), instead of being retried at once by Scrapy's RetryMiddleware.
    clean_sandbox.set_faults("amazon", status=429, times=1, path_prefix="/dp/")
    clean_sandbox.set_faults("noon", latency_ms=100)  # 30 pages: noon stays busy for ~3 s
    cooldown = 1.5
    result = run_crawl(
        TWO_SITES,
        tmp_path,
        runspider=True,
        spider_args={"amazon": clean_sandbox.url("amazon"), "noon": clean_sandbox.url("noon")},
        settings={
            **ONE_AT_A_TIME,
            "LOOQTA_RETRY_AFTER_DEFAULT_SECONDS": cooldown,
            "LOOQTA_RETRY_AFTER_MAX_SECONDS": 60,
            "CLOSESPIDER_TIMEOUT": 30,
        },
        timeout=60,  # a crawl of ~8 s; a site held for an hour never ends
    )
    assert result.returncode == 0, result.stderr[-3000:]
    refused_at, waited = refused_then_next(clean_sandbox)
    assert cooldown <= waited < cooldown + LATE_MARGIN_SECONDS
    noon_during = [r for r in clean_sandbox.requests("noon") if refused_at < r["t"] < refused_at + cooldown]
    assert len(noon_during) >= 3  # the other site kept going meanwhile (~1 per 100 ms unloaded)
    assert result.stat("looqta/retry_after/429") == 1
    assert result.stat("looqta/retry_after/max_wait_seconds") == cooldown
    assert sorted(i["status"] for i in result.items) == [200] * 34
