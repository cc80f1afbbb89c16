"""Independent per-site schedules: APScheduler interval jobs that submit Scrapyd jobs.

Each schedule is its own APScheduler job with its own ``IntervalTrigger``, so a
slow site never holds a fast one back. A tick submits nothing when Scrapyd
still has a pending or running job of that spider (skipped, not stacked), and
``max_instances=1`` + ``coalesce`` keep a slow tick from piling up behind itself.
"""

from __future__ import annotations

import logging
import math
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from looqta.pqueues import REQUEST_PRIORITY_BY_JOB

if TYPE_CHECKING:
    from pathlib import Path

    from apscheduler.schedulers.base import BaseScheduler

logger = logging.getLogger(__name__)


class ScheduleError(ValueError):
    """The schedules file is invalid."""


#: The shortest interval a schedules file may ask for: a site is not swept more often than this.
MIN_INTERVAL_SECONDS = 60.0
#: Names Scrapyd's schedule.json reads itself: as a spider argument they would change the job,
#: not reach the spider (``_version`` picks the egg, ``setting`` overrides settings, ...).
RESERVED_ARGS = frozenset({"project", "spider", "jobid", "setting", "_version", "priority", "version"})
_KEYS = frozenset({"name", "spider", "every_minutes", "job", "priority", "args", "settings"})


def _number(name: str, key: str, value: Any) -> float:
    """A finite int or float from the file; TOML booleans, strings, nan and inf refused."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScheduleError(f"{name}: {key} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ScheduleError(f"{name}: {key} must be a finite number, got {value!r}")
    return float(value)


def _text(name: str, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ScheduleError(f"{name}: {key} must be a non-empty string, got {value!r}")
    return value


def _table(name: str, key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ScheduleError(f"{name}: {key} must be a table, got {value!r}")
    return dict(value)


class JobSubmitter(Protocol):
    def active_spiders(self) -> set[str]: ...

    def submit(self, schedule: Schedule) -> str: ...


@dataclass(frozen=True)
class Schedule:
    name: str
    spider: str
    every_minutes: float
    job: str = "bulk"
    priority: float = 0.0
    args: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Schedule:
        """One ``[[schedule]]`` table, checked; :class:`ScheduleError` says what is wrong."""
        unknown = set(raw) - _KEYS
        if unknown:
            raise ScheduleError(f"unknown schedule keys: {', '.join(sorted(unknown))}")
        for key in ("spider", "every_minutes"):
            if key not in raw:
                raise ScheduleError(f"schedule {raw!r} lacks {key!r}")
        spider = _text("schedule", "spider", raw["spider"])
        name = _text(spider, "name", raw.get("name", spider))
        every_minutes = _number(name, "every_minutes", raw["every_minutes"])
        if every_minutes * 60 < MIN_INTERVAL_SECONDS:
            raise ScheduleError(
                f"{name}: every_minutes must be >= {MIN_INTERVAL_SECONDS / 60:g} "
                f"(one run a minute at most), got {every_minutes:g}"
            )
        job = _text(name, "job", raw.get("job", "bulk"))
        if job not in REQUEST_PRIORITY_BY_JOB:
            raise ScheduleError(f"{name}: job must be one of {', '.join(REQUEST_PRIORITY_BY_JOB)}")
        args = _table(name, "args", raw.get("args", {}))
        reserved = sorted(set(args) & RESERVED_ARGS | {arg for arg in args if arg.startswith("_")})
        if reserved:
            raise ScheduleError(
                f"{name}: args may not use Scrapyd's own names ({', '.join(reserved)}); "
                f"reserved: {', '.join(sorted(RESERVED_ARGS))}"
            )
        for key, value in args.items():
            if isinstance(value, float) and not math.isfinite(value):
                raise ScheduleError(f"{name}: args.{key} must be a finite number, got {value!r}")
        return cls(
            name=name,
            spider=spider,
            every_minutes=every_minutes,
            job=job,
            priority=_number(name, "priority", raw.get("priority", 0)),
            args=args,
            settings=_table(name, "settings", raw.get("settings", {})),
        )

    def spider_args(self) -> dict[str, Any]:
        return {**self.args, "job": self.job}


def load_schedules(path: Path) -> list[Schedule]:
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ScheduleError(f"{path}: {exc}") from None
    schedules = [Schedule.from_dict(entry) for entry in raw.get("schedule", [])]
    if not schedules:
        raise ScheduleError(f"{path} defines no [[schedule]]")
    names = [s.name for s in schedules]
    if len(set(names)) != len(names):
        raise ScheduleError(f"{path}: schedule names must be unique, got {names}")
    return schedules


def tick(schedule: Schedule, submitter: JobSubmitter) -> str | None:
    """Submit one run of ``schedule`` unless its spider is still pending or running; the job id or None."""
    if schedule.spider in submitter.active_spiders():
        logger.info("%s: %s still pending or running in Scrapyd; skipped", schedule.name, schedule.spider)
        return None
    job_id = submitter.submit(schedule)
    logger.info("%s: scheduled %s as job %s", schedule.name, schedule.spider, job_id)
    return job_id


def build_scheduler(
    schedules: list[Schedule],
    submitter: JobSubmitter,
    scheduler_cls: type[BaseScheduler] = BlockingScheduler,
) -> BaseScheduler:
    """One interval job per schedule; each runs on its own timer in the scheduler's thread pool."""
    scheduler = scheduler_cls(timezone="UTC")
    for schedule in schedules:
        scheduler.add_job(
            tick,
            IntervalTrigger(minutes=schedule.every_minutes, timezone="UTC"),
            args=(schedule, submitter),
            id=schedule.name,
            name=f"{schedule.spider} every {schedule.every_minutes:g} min",
            max_instances=1,
            coalesce=True,
            next_run_time=datetime.now(UTC),  # first run at start, then every interval
        )
    return scheduler
