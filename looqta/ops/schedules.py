"""Independent per-site schedules: APScheduler interval jobs that submit Scrapyd jobs.

Each schedule is its own APScheduler job with its own ``IntervalTrigger``, so a
slow site never holds a fast one back. A tick submits nothing when Scrapyd
still has a pending or running job of that spider (skipped, not stacked), and
``max_instances=1`` + ``coalesce`` keep a slow tick from piling up behind itself.
"""

from __future__ import annotations

import logging
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
        unknown = set(raw) - {"name", "spider", "every_minutes", "job", "priority", "args", "settings"}
        if unknown:
            raise ScheduleError(f"unknown schedule keys: {', '.join(sorted(unknown))}")
        try:
            schedule = cls(
                name=str(raw.get("name") or raw["spider"]),
                spider=str(raw["spider"]),
                every_minutes=float(raw["every_minutes"]),
                job=str(raw.get("job", "bulk")),
                priority=float(raw.get("priority", 0)),
                args=dict(raw.get("args", {})),
                settings=dict(raw.get("settings", {})),
            )
        except KeyError as exc:
            raise ScheduleError(f"schedule {raw!r} lacks {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise ScheduleError(f"schedule {raw!r}: {exc}") from None
        if schedule.every_minutes <= 0:
            raise ScheduleError(f"{schedule.name}: every_minutes must be > 0")
        if schedule.job not in REQUEST_PRIORITY_BY_JOB:
            raise ScheduleError(f"{schedule.name}: job must be one of {', '.join(REQUEST_PRIORITY_BY_JOB)}")
        return schedule

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
