"""Independent per-site schedules: APScheduler interval jobs that submit Scrapyd jobs or search jobs.

Each schedule is its own APScheduler job with its own ``IntervalTrigger``, so a
slow site never holds a fast one back. A tick submits nothing while the schedule's
previous run is still pending or running (skipped, not stacked), and
``max_instances=1`` + ``coalesce`` keep a slow tick from piling up behind itself.
A schedule with ``warm = true`` becomes a search job on the warm crawlers' queue
(looqta/ops/queued.py) instead of a Scrapyd job.
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
from looqta.search.contract import ContractError, SearchJob

if TYPE_CHECKING:
    from collections.abc import Callable
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
_KEYS = frozenset({"name", "spider", "every_minutes", "job", "priority", "args", "settings", "warm"})
#: What a search job carries of a schedule's args (looqta.search.contract.SearchJob); the site's own
#: arguments (base_url, ...) are the warm crawlers' (``warm start -a``).
SEARCH_JOB_ARGS = {"q": "query", "max_pages": "max_pages", "details": "details"}


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
    def is_active(self, schedule: Schedule) -> bool:
        """Whether the schedule's previous run is still pending or running."""
        ...

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
    #: Run as a bulk (or manual) search job on the site's warm crawlers, not as a Scrapyd job.
    warm: bool = False

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
        warm = raw.get("warm", False)
        if not isinstance(warm, bool):
            raise ScheduleError(f"{name}: warm must be true or false, got {warm!r}")
        schedule = cls(
            name=name,
            spider=spider,
            every_minutes=every_minutes,
            job=job,
            priority=_number(name, "priority", raw.get("priority", 0)),
            args=args,
            settings=_table(name, "settings", raw.get("settings", {})),
            warm=warm,
        )
        if warm:
            schedule.search_job("check")  # what a search job cannot carry is an error now, not a drop
        return schedule

    def spider_args(self) -> dict[str, Any]:
        return {**self.args, "job": self.job}

    def search_job(self, search_id: str) -> SearchJob:
        """This schedule as one search job on its site's queue; :class:`ScheduleError` if it cannot be."""
        extra = sorted(set(self.args) - set(SEARCH_JOB_ARGS))
        if extra:
            raise ScheduleError(
                f"{self.name}: a warm schedule's args are {', '.join(SEARCH_JOB_ARGS)}; "
                f"{', '.join(extra)} belong to the warm crawlers (`warm start -a NAME=VALUE`)"
            )
        if self.settings:
            raise ScheduleError(f"{self.name}: a warm schedule has no settings (they are the warm crawlers')")
        if self.priority:
            raise ScheduleError(f"{self.name}: priority is Scrapyd's; a warm schedule's job kind orders it")
        fields = {SEARCH_JOB_ARGS[key]: value for key, value in self.args.items()}
        if "query" not in fields or not isinstance(fields["query"], str):
            raise ScheduleError(f"{self.name}: a warm schedule needs args.q, the search's query (a string)")
        if not isinstance(fields.get("details", False), bool):
            raise ScheduleError(f"{self.name}: args.details must be true or false")
        try:
            return SearchJob.new(site=self.spider, kind=self.job, search_id=search_id, **fields)
        except ContractError as exc:
            raise ScheduleError(f"{self.name}: {exc}") from None


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
    """Submit one run of ``schedule`` unless its last one is still pending or running; its id or None."""
    if submitter.is_active(schedule):
        logger.info(
            "%s: its last run of %s is still pending or running; skipped", schedule.name, schedule.spider
        )
        return None
    job_id = submitter.submit(schedule)
    logger.info("%s: scheduled %s as job %s", schedule.name, schedule.spider, job_id)
    return job_id


def build_scheduler(
    schedules: list[Schedule],
    submitter: JobSubmitter,
    scheduler_cls: type[BaseScheduler] = BlockingScheduler,
    *,
    keeper: Callable[[], object] | None = None,
    keeper_seconds: float = 30.0,
) -> BaseScheduler:
    """One interval job per schedule, each on its own timer in the scheduler's thread pool; and
    ``keeper`` (starts again the warm crawlers that exited) every ``keeper_seconds``."""
    scheduler = scheduler_cls(timezone="UTC")
    if keeper is not None:
        scheduler.add_job(
            keeper,
            IntervalTrigger(seconds=keeper_seconds, timezone="UTC"),
            id="warm-keeper",
            name=f"warm crawlers kept running, every {keeper_seconds:g} s",
            max_instances=1,
            coalesce=True,
        )
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


class BySchedule:
    """Warm schedules to the queue, the others to Scrapyd."""

    def __init__(self, scrapyd: JobSubmitter, queue: JobSubmitter | None) -> None:
        self.scrapyd = scrapyd
        self.queue = queue

    def _for(self, schedule: Schedule) -> JobSubmitter:
        if not schedule.warm:
            return self.scrapyd
        if self.queue is None:
            raise ScheduleError(f"{schedule.name}: a warm schedule needs Redis")
        return self.queue

    def is_active(self, schedule: Schedule) -> bool:
        return self._for(schedule).is_active(schedule)

    def submit(self, schedule: Schedule) -> str:
        return self._for(schedule).submit(schedule)
