"""Per-site schedules: file validation, skip-if-running, independent timers (APScheduler, real threads)."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from looqta.ops.config import PROJECT_ROOT
from looqta.ops.schedules import Schedule, ScheduleError, build_scheduler, load_schedules, tick

if TYPE_CHECKING:
    from pathlib import Path


class FakeScrapyd:
    def __init__(self, active: set[str] | None = None, slow: str | None = None) -> None:
        self.active = active or set()
        self.slow = slow
        self.submitted: list[tuple[str, float]] = []
        self.release = threading.Event()

    def is_active(self, schedule: Schedule) -> bool:
        return schedule.spider in self.active

    def submit(self, schedule: Schedule) -> str:
        self.submitted.append((schedule.spider, time.monotonic()))
        if schedule.spider == self.slow:
            self.release.wait(10)  # a Scrapyd call that hangs
        return f"job-{len(self.submitted)}"


def test_the_shipped_schedules_file_is_valid() -> None:
    schedules = load_schedules(PROJECT_ROOT / "deploy" / "schedules.toml")
    assert {s.spider for s in schedules} == {"amazon", "noon"}
    assert all(s.job == "bulk" for s in schedules)
    assert schedules[0].spider_args()["job"] == "bulk"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[[schedule]]\nspider = 'amazon'\n", "lacks 'every_minutes'"),
        ("[[schedule]]\nspider = 'amazon'\nevery_minutes = 0\n", "every_minutes must be >= 1"),
        ("[[schedule]]\nspider = 'amazon'\nevery_minutes = 1e-9\n", "every_minutes must be >= 1"),
        ("[[schedule]]\nspider = 'amazon'\nevery_minutes = 0.5\n", "every_minutes must be >= 1"),
        ("[[schedule]]\nspider = 'amazon'\nevery_minutes = -60\n", "every_minutes must be >= 1"),
        ("[[schedule]]\nspider = 'amazon'\nevery_minutes = nan\n", "every_minutes must be a finite number"),
        ("[[schedule]]\nspider = 'amazon'\nevery_minutes = inf\n", "every_minutes must be a finite number"),
        ("[[schedule]]\nspider = 'amazon'\nevery_minutes = true\n", "every_minutes must be a number"),
        ("[[schedule]]\nspider = 'amazon'\nevery_minutes = '60'\n", "every_minutes must be a number"),
        (
            "[[schedule]]\nspider = 'amazon'\nevery_minutes = 5\npriority = false\n",
            "priority must be a number",
        ),
        (
            "[[schedule]]\nspider = 'amazon'\nevery_minutes = 5\npriority = -inf\n",
            "priority must be a finite",
        ),
        ("[[schedule]]\nspider = true\nevery_minutes = 5\n", "spider must be a non-empty string"),
        ("[[schedule]]\nspider = 'amazon'\nevery_minutes = 5\nargs = 3\n", "args must be a table"),
        (
            "[[schedule]]\nspider = 'amazon'\nevery_minutes = 5\nargs = { x = nan }\n",
            "args.x must be a finite",
        ),
        ("[[schedule]]\nspider = 'amazon'\nevery_minutes = 5\njob = 'soon'\n", "job must be one of"),
        ("[[schedule]]\nspider = 'amazon'\nevery_minutes = 5\ncolour = 1\n", "unknown schedule keys: colour"),
        ("title = 'x'\n", "defines no"),
        ("[[schedule\n", "Expected"),
    ],
)
def test_bad_schedule_files_are_refused_with_the_reason(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "schedules.toml"
    path.write_text(body)
    with pytest.raises(ScheduleError, match=message):
        load_schedules(path)


@pytest.mark.parametrize("name", ["project", "spider", "jobid", "setting", "_version", "priority", "_x"])
def test_scrapyds_own_argument_names_are_refused_as_spider_args(tmp_path: Path, name: str) -> None:
    path = tmp_path / "schedules.toml"
    path.write_text(f"[[schedule]]\nspider = 'amazon'\nevery_minutes = 60\nargs = {{ {name} = 'x' }}\n")
    with pytest.raises(ScheduleError, match=f"args may not use Scrapyd's own names \\({name}\\)"):
        load_schedules(path)


def test_the_shortest_interval_allowed_is_one_minute(tmp_path: Path) -> None:
    path = tmp_path / "schedules.toml"
    path.write_text("[[schedule]]\nspider = 'amazon'\nevery_minutes = 1\n")
    assert [s.every_minutes for s in load_schedules(path)] == [1.0]


def test_a_site_still_pending_or_running_is_skipped_not_stacked() -> None:
    scrapyd = FakeScrapyd(active={"amazon"})
    amazon = Schedule(name="a", spider="amazon", every_minutes=5)
    noon = Schedule(name="n", spider="noon", every_minutes=5)
    assert tick(amazon, scrapyd) is None
    assert tick(noon, scrapyd) == "job-1"
    assert [spider for spider, _ in scrapyd.submitted] == ["noon"]


def test_each_site_runs_on_its_own_timer_and_a_hung_one_holds_nobody_back() -> None:
    scrapyd = FakeScrapyd(slow="amazon")
    schedules = [
        Schedule(name="slow", spider="amazon", every_minutes=0.5 / 60),
        Schedule(name="fast", spider="noon", every_minutes=0.2 / 60),
    ]
    scheduler = build_scheduler(schedules, scrapyd, scheduler_cls=BackgroundScheduler)
    assert {job.id: job.trigger.interval.total_seconds() for job in scheduler.get_jobs()} == pytest.approx(
        {"slow": 0.5, "fast": 0.2}
    )
    scheduler.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and sum(s == "noon" for s, _ in scrapyd.submitted) < 5:
            time.sleep(0.05)
    finally:
        scrapyd.release.set()
        scheduler.shutdown(wait=True)
    fast_runs = [t for s, t in scrapyd.submitted if s == "noon"]
    slow_runs = [t for s, t in scrapyd.submitted if s == "amazon"]
    assert len(fast_runs) >= 5  # noon kept its 0.2 s rhythm...
    assert len(slow_runs) == 1  # ...while amazon's one run hung (max_instances=1: no pile-up)
