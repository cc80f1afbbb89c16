"""Spidermon monitors, one per health check, and the suite Spidermon runs at spider close.

``SPIDERMON_SPIDER_CLOSE_MONITORS = ["looqta.health.monitors.HealthSuite"]``. Each monitor
asks :mod:`looqta.health.checks` for its verdict, hands the :class:`Check` to the suite's
action (through Spidermon's shared ``data.meta``) and fails with the check's message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from spidermon import Monitor, MonitorSuite, monitors

from looqta.health import checks
from looqta.health.actions import RecordHealth, checks_of
from looqta.health.config import HealthConfig

if TYPE_CHECKING:
    from collections.abc import Callable

    from scrapy.crawler import Crawler

    from looqta.health.checks import Check


class HealthMonitor(Monitor):
    """A monitor judged by one pure check of the run's stats."""

    @property
    def config(self) -> HealthConfig:
        return HealthConfig.from_settings(self.data.crawler.settings)

    def judge(self, check: Check) -> None:
        checks_of(self.data).append(check)
        if check.skipped:
            self.skipTest(check.message)
        if not check.ok:
            self.fail(check.message)


@monitors.name("Item count")
@monitors.order(1)
class ItemCountMonitor(HealthMonitor):
    def test_item_count(self) -> None:
        """At least LOOQTA_HEALTH_MIN_ITEMS items were scraped."""
        self.judge(checks.check_item_count(self.data.stats, self.config))


def _coverage_test(name: str) -> Callable[[HealthMonitor], None]:
    def test(self: HealthMonitor) -> None:
        self.judge(checks.check_field_coverage(self.data.stats, self.config, name))

    test.__doc__ = f"Share of scraped items with {name} is at least its LOOQTA_HEALTH_FIELD_COVERAGE."
    return test


def field_coverage_monitor(fields: tuple[str, ...]) -> type[HealthMonitor]:
    """A monitor with one test per field of ``LOOQTA_HEALTH_FIELD_COVERAGE``."""
    tests: dict[str, Any] = {f"test_{name}": _coverage_test(name) for name in fields}
    monitor = type("FieldCoverageMonitor", (HealthMonitor,), tests)
    return monitors.order(2)(monitors.name("Field coverage")(monitor))  # type: ignore[no-any-return]


@monitors.name("Validation errors")
@monitors.order(3)
class ValidationErrorsMonitor(HealthMonitor):
    def test_validation_error_share(self) -> None:
        """Items dropped by validation stay under LOOQTA_HEALTH_MAX_VALIDATION_ERROR_SHARE."""
        self.judge(checks.check_validation_errors(self.data.stats, self.config))


@monitors.name("Block pages")
@monitors.order(4)
class BlockShareMonitor(HealthMonitor):
    def test_block_share(self) -> None:
        """Block pages stay under LOOQTA_HEALTH_MAX_BLOCK_SHARE of the site's answers."""
        self.judge(checks.check_block_share(self.data.stats, self.config))


@monitors.name("Finish reason")
@monitors.order(5)
class FinishReasonMonitor(HealthMonitor):
    def test_finish_reason(self) -> None:
        """The crawl ended for one of LOOQTA_HEALTH_ALLOWED_FINISH_REASONS."""
        self.judge(checks.check_finish_reason(self.data.stats, self.config))


class HealthSuite(MonitorSuite):
    """Every health check; empty when ``LOOQTA_HEALTH_ENABLED`` is off."""

    def __init__(self, *args: Any, crawler: Crawler | None = None, **kwargs: Any) -> None:
        config = HealthConfig.from_settings(crawler.settings) if crawler is not None else HealthConfig()
        if config.enabled:
            kwargs.setdefault(
                "monitors",
                [
                    ItemCountMonitor,
                    field_coverage_monitor(tuple(config.field_coverage)),
                    ValidationErrorsMonitor,
                    BlockShareMonitor,
                    FinishReasonMonitor,
                ],
            )
            kwargs.setdefault("monitors_finished_actions", [RecordHealth])
        super().__init__(*args, crawler=crawler, **kwargs)
