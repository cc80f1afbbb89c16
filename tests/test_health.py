"""Run health: the pure checks, their settings, the Spidermon suite in real crawls, and its readers."""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pytest
from crawling import run_crawl
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler

from looqta.crawl_snapshot import LooqtaCollector, RateWindow
from looqta.health import HealthConfig, evaluate, summary
from looqta.health.checks import block_share, field_coverage, validation_error_share
from looqta.health.joblog import health_from_log
from looqta.health.monitors import HealthSuite
from looqta.ops import scrapyd
from looqta.ops.config import OpsConfig

if TYPE_CHECKING:
    from pathlib import Path

    from looqta.sandbox.client import SandboxProcess

COUNT = "spidermon_item_scraped_count"


def healthy_stats(**changes: Any) -> dict[str, Any]:
    """Stats of a good run of 100 items, as the crawl leaves them."""
    stats: dict[str, Any] = {
        "finish_reason": "finished",
        "item_scraped_count": 100,
        COUNT: 100,
        f"{COUNT}/ProductItem": 100,
        **{f"{COUNT}/ProductItem/{name}": 100 for name in ("source_id", "title", "price", "currency")},
        f"{COUNT}/ProductItem/rating": 85,
        "looqta/validate/ok": 100,
        "looqta/blocks/passed": 10,
    }
    stats.update(changes)
    return stats


def failed_names(stats: dict[str, Any], config: HealthConfig | None = None) -> list[str]:
    return [check.name for check in evaluate(stats, config or HealthConfig()) if not check.ok]


# --- the decision, on synthetic stats -----------------------------------------------------------


def test_a_good_run_is_green() -> None:
    checks = evaluate(healthy_stats(), HealthConfig())
    assert [check.name for check in checks] == [
        "item_count",
        "field_coverage/source_id",
        "field_coverage/title",
        "field_coverage/price",
        "field_coverage/currency",
        "field_coverage/rating",
        "validation_error_share",
        "block_share",
        "finish_reason",
    ]
    assert all(check.ok for check in checks)
    assert summary(checks) == "health: green"


def test_field_coverage_is_the_share_of_items_with_the_field_summed_over_item_types() -> None:
    stats = healthy_stats(**{f"{COUNT}/OtherItem": 100, f"{COUNT}/OtherItem/price": 100, COUNT: 200})
    coverage = field_coverage(stats)
    assert coverage is not None
    assert coverage["price"] == 1.0
    assert coverage["title"] == 0.5
    assert field_coverage({"item_scraped_count": 0}) is None  # Spidermon counted nothing


def test_low_field_coverage_fails_with_a_readable_message() -> None:
    checks = evaluate(healthy_stats(**{f"{COUNT}/ProductItem/price": 91}), HealthConfig())
    (bad,) = [check for check in checks if not check.ok]
    assert bad.name == "field_coverage/price"
    assert bad.value == pytest.approx(0.91)
    assert bad.message == "field coverage price 0.91 < 0.98"
    assert summary(checks) == "health: RED (1 of 9 checks failed: field_coverage/price)"


def test_coverage_at_the_threshold_passes_and_a_field_never_seen_fails() -> None:
    assert failed_names(healthy_stats(**{f"{COUNT}/ProductItem/rating": 80})) == []
    stats = healthy_stats()
    del stats[f"{COUNT}/ProductItem/rating"]
    assert failed_names(stats) == ["field_coverage/rating"]


def test_without_items_coverage_is_skipped_and_the_item_count_fails() -> None:
    stats = {"finish_reason": "finished", "item_scraped_count": 0}
    checks = evaluate(stats, HealthConfig())
    assert [check.name for check in checks if check.skipped] == [
        f"field_coverage/{name}" for name in HealthConfig().field_coverage
    ]
    assert [check.name for check in checks if not check.ok] == ["item_count"]
    assert checks[0].message == "items 0 < 1"


def test_shares_of_validation_errors_and_blocks() -> None:
    assert validation_error_share({}) == 0.0
    assert block_share({}) == 0.0
    assert validation_error_share({"looqta/validate/ok": 97, "looqta/validate/dropped": 3}) == 0.03
    assert block_share({"looqta/blocks/total": 1, "looqta/blocks/passed": 3}) == 0.25
    stats = healthy_stats(**{"looqta/validate/dropped": 3, "looqta/validate/ok": 97})
    assert failed_names(stats) == ["validation_error_share"]
    assert failed_names(healthy_stats(**{"looqta/blocks/total": 2, "looqta/blocks/passed": 8})) == []
    assert failed_names(healthy_stats(**{"looqta/blocks/total": 3, "looqta/blocks/passed": 7})) == [
        "block_share"
    ]


def test_a_blocked_run_names_its_finish_reason_and_block_share() -> None:
    stats = {"finish_reason": "blocked", "item_scraped_count": 0, "looqta/blocks/total": 4}
    checks = evaluate(stats, HealthConfig())
    assert [check.message for check in checks if not check.ok] == [
        "items 0 < 1",
        "block share 1.0 > 0.2",
        "finish reason 'blocked' not in ['finished']",
    ]
    assert summary(checks) == "health: RED (3 of 9 checks failed: item_count, block_share, finish_reason)"


# --- settings -----------------------------------------------------------------------------------


def test_config_reads_the_project_settings() -> None:
    settings = Settings()
    settings.setmodule("looqta.settings")
    config = HealthConfig.from_settings(settings)
    assert config == HealthConfig()  # settings.py and the dataclass agree
    assert settings.getbool("SPIDERMON_ENABLED")
    assert settings.getlist("SPIDERMON_SPIDER_CLOSE_MONITORS") == ["looqta.health.monitors.HealthSuite"]


def test_config_from_command_line_strings() -> None:
    config = HealthConfig.from_settings(
        Settings(
            {
                "LOOQTA_HEALTH_MIN_ITEMS": "5",
                "LOOQTA_HEALTH_FIELD_COVERAGE": '{"price": 0.5}',
                "LOOQTA_HEALTH_MAX_BLOCK_SHARE": "0.5",
                "LOOQTA_HEALTH_ALLOWED_FINISH_REASONS": "finished,closespider_itemcount",
            }
        )
    )
    assert config.min_items == 5
    assert config.field_coverage == {"price": 0.5}
    assert config.max_block_share == 0.5
    assert config.allowed_finish_reasons == ("finished", "closespider_itemcount")


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("LOOQTA_HEALTH_MAX_BLOCK_SHARE", 1.5, "between 0 and 1"),
        ("LOOQTA_HEALTH_MAX_VALIDATION_ERROR_SHARE", -0.1, "between 0 and 1"),
        ("LOOQTA_HEALTH_FIELD_COVERAGE", {"prize": 0.9}, "ProductItem lacks: prize"),
        ("LOOQTA_HEALTH_FIELD_COVERAGE", {"price": 2}, "between 0 and 1"),
        ("LOOQTA_HEALTH_MIN_ITEMS", -1, ">= 0"),
        ("LOOQTA_HEALTH_ALLOWED_FINISH_REASONS", [], "at least one"),
    ],
)
def test_bad_config_fails_at_start_up(name: str, value: Any, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        HealthConfig.from_settings(Settings({name: value}))


def test_the_suite_holds_one_monitor_per_check_and_none_when_disabled() -> None:
    assert HealthSuite(crawler=get_crawler()).number_of_monitors == 9
    off = HealthSuite(crawler=get_crawler(settings_dict={"LOOQTA_HEALTH_ENABLED": False}))
    assert (off.number_of_monitors, off.monitors_finished_actions) == (0, [])
    with pytest.raises(ValueError, match="ProductItem lacks"):
        HealthSuite(crawler=get_crawler(settings_dict={"LOOQTA_HEALTH_FIELD_COVERAGE": {"x": 1}}))


# --- readers: /metrics, job logs ------------------------------------------------------------------


def test_metrics_expose_the_health_gauges() -> None:
    crawler = get_crawler(settings_dict={"PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": 4})
    crawler.stats.open_spider()
    for key, value in {
        "looqta/health/ok": False,
        "looqta/health/failed": 2,
        "looqta/health/failed/block_share": 1,
        "looqta/health/block_share": 1.0,
    }.items():
        crawler.stats.set_value(key, value)
    # The collector reads stats, settings and the scheduler (none here: the crawl has not started).
    view = SimpleNamespace(stats=crawler.stats, settings=crawler.settings, engine=None, spider=None)
    families = {family.name: family for family in LooqtaCollector(view, RateWindow()).collect()}  # type: ignore[arg-type]
    assert families["looqta_health_ok"].samples[0].value == 0.0
    assert families["looqta_health_checks_failed"].samples[0].value == 2.0
    stats = {sample.labels["key"]: sample.value for sample in families["looqta_scrapy_stat"].samples}
    assert stats["looqta/health/failed/block_share"] == 1.0
    assert stats["looqta/health/block_share"] == 1.0


def test_health_is_read_back_from_a_job_log(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    assert health_from_log(log) is None  # no log
    log.write_text("2026-01-01 [looqta.health.actions] ERROR: health: items 0 < 1\n")
    assert health_from_log(log) is None  # a failed check, no verdict yet
    log.write_text(
        "x [looqta.health.actions] ERROR: health: items 0 < 1\n"
        "x [looqta.health.actions] INFO: health: RED (1 of 9 checks failed: item_count)\n"
        "x [scrapy.statscollectors] INFO: Dumping Scrapy stats:\n{'looqta/health/ok': False}\n"
    )
    assert health_from_log(log) == "RED (1 of 9 checks failed: item_count)"


def test_ops_jobs_add_each_finished_jobs_health(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = OpsConfig(tmp_path, 6800, "user", "secret", tmp_path)
    listing = {
        "running": [{"id": "r1", "spider": "noon"}],
        "finished": [{"id": "f1", "spider": "amazon"}, {"id": "f2", "spider": "noon"}],
    }

    class Client:
        def jobs(self, project: str) -> dict[str, Any]:
            assert project == "looqta"
            return listing

    monkeypatch.setattr(scrapyd, "client", lambda _config: Client())
    log = scrapyd.job_log(config, "amazon", "f1")
    log.parent.mkdir(parents=True)
    log.write_text("2026-01-01 [looqta.health.actions] INFO: health: green\n")
    jobs = scrapyd.jobs(config)
    assert [job.get("health") for job in jobs["finished"]] == ["green", None]
    assert "health" not in jobs["running"][0]


# --- real crawls of the sandbox -------------------------------------------------------------------


def crawl(sandbox: SandboxProcess, tmp_path: Path, site: str = "amazon") -> Any:
    return run_crawl(
        site,
        tmp_path,
        spider_args={"q": "iphone", "max_pages": 1, "base_url": sandbox.url(site)},
        settings={"LOOQTA_FILES_ENABLED": False},
    )


def test_a_clean_sandbox_crawl_is_green(clean_sandbox: SandboxProcess, tmp_path: Path) -> None:
    result = crawl(clean_sandbox, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stats["looqta/health/ok"] is True
    assert result.stats["looqta/health/failed"] == 0
    assert result.stats["looqta/health/checks"] == 9
    assert result.stats["looqta/health/item_count"] == len(result.items) > 0
    assert result.stats["looqta/health/field_coverage/price"] == 1.0
    assert result.stats["looqta/health/block_share"] == 0.0
    assert "[looqta.health.actions] INFO: health: green" in result.stderr
    assert "ERROR: health:" not in result.stderr
    assert "Run summary [amazon, finished]: " in result.stderr
    assert ", health: green" in result.stderr


def test_a_crawl_answered_only_by_captchas_is_red(clean_sandbox: SandboxProcess, tmp_path: Path) -> None:
    clean_sandbox.set_faults("amazon", blocks={"captcha": 1.0})
    result = crawl(clean_sandbox, tmp_path)
    stats = result.stats
    assert stats["finish_reason"] == "blocked"
    assert stats["looqta/health/ok"] is False
    assert set(stats["looqta/health/failed_checks"]) >= {"finish_reason", "block_share"}
    assert stats["looqta/health/failed/block_share"] == 1
    assert stats["looqta/health/block_share"] == 1.0
    assert stats["looqta/health/finish_reason"] == "blocked"
    assert "ERROR: health: block share 1.0 > 0.2" in result.stderr
    assert "ERROR: health: finish reason 'blocked' not in ['finished']" in result.stderr
    assert "INFO: health: RED (3 of 9 checks failed: item_count, block_share, finish_reason)" in result.stderr
    assert health_from_log_text(result.stderr, tmp_path) == (
        "RED (3 of 9 checks failed: item_count, block_share, finish_reason)"
    )


def health_from_log_text(text: str, tmp_path: Path) -> str | None:
    log = tmp_path / "crawl.log"
    log.write_text(text)
    return health_from_log(log)
