"""Warm crawlers under Scrapyd, the parts that need no Scrapyd: the slot check, warm schedules, and the
no-stacking check on a real Redis."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from scrapy.settings import Settings

from looqta.ops import scrapyd
from looqta.ops.config import OpsConfig, OpsConfigError
from looqta.ops.queued import QueueSubmitter
from looqta.ops.schedules import BySchedule, Schedule, ScheduleError, build_scheduler, load_schedules, tick
from looqta.ops.warm import WarmError, check_request, check_slots
from looqta.pqueues import REQUEST_PRIORITY_BY_JOB
from looqta.redisstore.config import RedisConfig
from looqta.search import contract
from looqta.search.queue import SiteQueue
from looqta.spiders.amazon import AmazonSpider
from looqta.spiders.base import JOB_META_KEY
from looqta.spiders.noon import NoonSpider

if TYPE_CHECKING:
    from pathlib import Path

    import redis

    from looqta.spiders.base import SearchSpider

ENV = {"LOOQTA_SCRAPYD_USERNAME": "u", "LOOQTA_SCRAPYD_PASSWORD": "p"}


class FakeSubmitter:
    def is_active(self, schedule: Schedule) -> bool:
        return False

    def submit(self, schedule: Schedule) -> str:
        return "job"


def warm_schedule(**fields: object) -> Schedule:
    raw = {"spider": "amazon", "every_minutes": 60, "warm": True, "args": {"q": "iphone", "max_pages": 2}}
    return Schedule.from_dict({**raw, **fields})


# --- the max_proc refusal ------------------------------------------------------------------------


def test_warm_crawlers_that_leave_no_slot_for_other_jobs_are_refused() -> None:
    with pytest.raises(
        WarmError, match=r"3 warm crawlers \(amazon 2, noon 1\) .* need max_proc >= 4, Scrapyd has 3"
    ):
        check_slots(3, {"amazon": 2, "noon": 1})
    check_slots(4, {"amazon": 2, "noon": 1})  # one slot left over: allowed
    with pytest.raises(WarmError, match="need max_proc >= 2, Scrapyd has 1"):
        check_slots(1, {"noon": 1})


def test_max_proc_is_read_from_the_config_ops_renders(tmp_path: Path) -> None:
    config = OpsConfig.from_env({**ENV, "LOOQTA_DATA_DIR": str(tmp_path), "LOOQTA_SCRAPYD_MAX_PROC": "7"})
    assert config.max_proc == 7
    config.scrapyd_dir.mkdir(parents=True)
    (config.scrapyd_dir / "scrapyd.conf").write_text(scrapyd.render_conf(config))
    assert scrapyd.max_proc(config) == 7


@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_a_bad_max_proc_is_refused(value: str) -> None:
    with pytest.raises(OpsConfigError, match="LOOQTA_SCRAPYD_MAX_PROC"):
        OpsConfig.from_env({**ENV, "LOOQTA_SCRAPYD_MAX_PROC": value})


def test_search_arguments_and_secrets_are_refused_at_warm_start() -> None:
    with pytest.raises(WarmError, match="-a q: a warm crawler takes these from each search"):
        check_request({"q": "x", "base_url": "http://127.0.0.1:1"}, {})
    with pytest.raises(WarmError, match="-s REDIS_URL: would be on the job's command line"):
        check_request({}, {"REDIS_URL": "redis://:pw@127.0.0.1:1/0"})
    check_request({"base_url": "http://127.0.0.1:1"}, {"LOOQTA_FILES_ENABLED": "False"})


# --- the Redis URL reaches a job through a 0600 file, not its environment ---------------------


def test_scrapyd_and_its_jobs_get_no_redis_url_in_their_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://:secret@127.0.0.1:1/0")
    config = OpsConfig.from_env({**os.environ, **ENV})
    assert config.redis_url == "redis://:secret@127.0.0.1:1/0"
    assert "REDIS_URL" not in config.child_env()


def test_the_redis_url_file_is_read_when_redis_url_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "redis.url"
    path.write_text("redis://:secret@127.0.0.1:7/0\n")
    settings = Settings({"REDIS_URL": "", "LOOQTA_REDIS_URL_FILE": str(path)})
    assert RedisConfig.from_settings(settings).url == "redis://:secret@127.0.0.1:7/0"


# --- warm schedules ------------------------------------------------------------------------------


def test_a_warm_schedule_becomes_a_bulk_search_job() -> None:
    job = warm_schedule(args={"q": "iphone 15", "max_pages": 3, "details": True}).search_job("s1")
    assert (job.search_id, job.site, job.query, job.kind, job.max_pages, job.details) == (
        "s1",
        "amazon",
        "iphone 15",
        "bulk",
        3,
        True,
    )
    assert warm_schedule(job="manual").search_job("s2").kind == "manual"


@pytest.mark.parametrize("spider_cls", [AmazonSpider, NoonSpider])
@pytest.mark.parametrize("kind", ["bulk", "manual"])
def test_a_warm_schedules_requests_carry_its_job_kind_and_priority(
    spider_cls: type[SearchSpider], kind: str
) -> None:
    job = warm_schedule(spider=spider_cls.name, job=kind).search_job("s1")
    spider = spider_cls(warm="1", base_url="http://127.0.0.1:1")
    requests = list(spider.search_start(spider.warm_search_args(job)))  # what a warm crawler runs for it
    assert requests
    assert {request.meta[JOB_META_KEY] for request in requests} == {kind}
    assert {request.priority for request in requests} == {REQUEST_PRIORITY_BY_JOB[kind]}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"args": {"q": "x", "base_url": "http://127.0.0.1:1"}}, "base_url belong to the warm crawlers"),
        ({"args": {"max_pages": 2}}, "needs args.q"),
        ({"args": {"q": "x", "max_pages": 0}}, "max_pages must be a positive integer"),
        ({"args": {"q": "x", "max_pages": 2.5}}, "max_pages must be a positive integer"),
        ({"args": {"q": "x", "details": "yes"}}, "args.details must be true or false"),
        ({"args": {"q": "   "}}, "a job needs a search id, a query and a site"),
        ({"settings": {"LOOQTA_FILES_ENABLED": False}}, "a warm schedule has no settings"),
        ({"priority": 5}, "priority is Scrapyd's"),
        ({"warm": "yes"}, "warm must be true or false"),
    ],
)
def test_what_a_search_job_cannot_carry_is_an_error_at_load(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        warm_schedule(**fields)


def test_a_warm_schedules_file_loads(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text("[[schedule]]\nspider = 'noon'\nevery_minutes = 30\nwarm = true\nargs = { q = 'tv' }\n")
    [schedule] = load_schedules(path)
    assert schedule.warm
    assert schedule.search_job("x").query == "tv"


# --- no stacking, on a real Redis ----------------------------------------------------------------


def test_a_scheduled_search_still_queued_or_running_is_not_pushed_again(redis_client: redis.Redis) -> None:
    submitter = QueueSubmitter(redis_client)
    schedule = warm_schedule(name="amazon-phones")
    other = warm_schedule(name="amazon-tvs", args={"q": "tv"})
    first = tick(schedule, submitter)
    assert first is not None
    assert first.startswith("schedule.amazon-phones.")
    bulk = contract.queue_key("amazon", "bulk")
    assert [contract.SearchJob.decode(raw).search_id for raw in redis_client.lrange(bulk, 0, -1)] == [first]
    assert tick(schedule, submitter) is None  # still queued: skipped
    assert tick(other, submitter) is not None  # another schedule of the site is not held back
    crawler = SiteQueue(redis_client, "amazon", "crawler-1", lease_seconds=30)
    taken = crawler.take(manual=True, bulk=True)
    assert contract.SearchJob.decode(taken).search_id == first
    assert tick(schedule, submitter) is None  # running (in a crawler's processing list): skipped
    crawler.finish(taken, first, contract.site_done("amazon", 3, 1.0))
    second = tick(schedule, submitter)  # finished: the next tick queues a new run
    assert second is not None
    assert second != first
    assert redis_client.llen(bulk) == 2  # the other schedule's job and the new one, nothing stacked


# --- the keeper runs on the scheduler ------------------------------------------------------------


def test_the_scheduler_runs_the_warm_keeper_on_its_own_interval() -> None:
    calls: list[float] = []
    scheduler = build_scheduler(
        [],
        BySchedule(FakeSubmitter(), None),
        BackgroundScheduler,
        keeper=lambda: calls.append(1),
        keeper_seconds=0.2,
    )
    keeper = scheduler.get_job("warm-keeper")
    assert keeper.trigger.interval.total_seconds() == pytest.approx(0.2)
    scheduler.start()
    try:
        deadline = time.monotonic() + 5
        while len(calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        scheduler.shutdown(wait=True)
    assert len(calls) >= 3
