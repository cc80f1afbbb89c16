"""Warm crawlers as Scrapyd jobs started by looqta.ops: a real Scrapyd, the session's Redis, the sandbox.

One Scrapyd for the module (``max_proc`` 4); its warm crawlers are started by the first test and
used by the next ones, in file order: two amazon crawlers and one noon crawler.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import psutil
import pytest
import redis
from pymongo import MongoClient
from test_ops_scrapyd import free_port, ops
from test_spider_amazon import expected_offers as amazon_offers
from test_spider_noon import expected_offers as noon_offers
from warm_crawlers import WARM_TEST_SETTINGS, stream, wait_for

from looqta.ops import scrapyd, warm
from looqta.ops.config import PROJECT, PROJECT_ROOT, OpsConfig
from looqta.search import contract, queue

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from looqta.sandbox.client import SandboxProcess

QUERY = "iphone 15 pro max"
JOB_START_SECONDS = 90.0
SEARCH_SECONDS = 60.0
STORE_SECONDS = 30.0
PER_SITE = {"amazon": 2, "noon": 1}


def setting_options(settings: dict[str, Any]) -> list[str]:
    options: list[str] = []
    for name, value in settings.items():
        text = json.dumps(value) if isinstance(value, (dict, list, bool)) else str(value)
        options += ["-s", f"{name}={text}"]
    return options


@pytest.fixture(scope="module")
def warm_env(
    tmp_path_factory: pytest.TempPathFactory, mongo_uri: str, redis_url: str, sandbox: SandboxProcess
) -> Iterator[dict[str, str]]:
    env = {
        "MONGO_URI": mongo_uri,
        "MONGO_DATABASE": "warm_jobs",
        "REDIS_URL": redis_url,  # given to ops; its jobs read it from a 0600 file
        "LOOQTA_DATA_DIR": str(tmp_path_factory.mktemp("warm-ops")),
        "LOOQTA_SCRAPYD_PORT": str(free_port()),
        "LOOQTA_SCRAPYD_USERNAME": "looqta",
        "LOOQTA_SCRAPYD_PASSWORD": "warm-test-password",
        "LOOQTA_SCRAPYD_MAX_PROC": "4",  # 3 warm crawlers + 1 slot for other jobs
    }
    config = config_of(env)
    ops(env, "up")
    try:
        yield env
    finally:
        ops(env, "warm", "stop", check=False)
        stop_jobs(config)  # Scrapyd's jobs outlive it: none may be left behind by a failed test
        scrapyd.stop(config)


def stop_jobs(config: OpsConfig) -> None:
    processes = []
    for job in running(config).values():
        with contextlib.suppress(psutil.NoSuchProcess):
            processes.append(psutil.Process(job["pid"]))
            processes[-1].terminate()
    _, alive = psutil.wait_procs(processes, timeout=30)
    for process in alive:
        process.kill()


@pytest.fixture(scope="module")
def redis_db(redis_url: str) -> Iterator[redis.Redis]:
    """A client on the session's Redis that flushes nothing: the module's crawlers live across tests."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


def config_of(env: dict[str, str]) -> OpsConfig:
    return OpsConfig.from_env({**os.environ, **env})


def running(config: OpsConfig) -> dict[str, dict[str, Any]]:
    return {job["id"]: job for job in scrapyd.client(config).jobs(PROJECT)["running"]}


def all_jobs(config: OpsConfig) -> set[str]:
    listing = scrapyd.client(config).jobs(PROJECT)
    return {job["id"] for state in ("pending", "running", "finished") for job in listing[state]}


def crawlers(redis_db: redis.Redis, site: str) -> set[str]:
    return set(redis_db.smembers(contract.crawlers_key(site)))


def search(redis_db: redis.Redis, site: str, query: str, **fields: Any) -> str:
    job = contract.SearchJob.new(query, site, **fields)
    queue.push(redis_db, job)
    return job.search_id


def site_done(redis_db: redis.Redis, search_id: str) -> list[contract.StreamEntry]:
    entries = [entry for _, entry in stream(redis_db, search_id)]
    return entries if any(e.event in ("site-done", "site-failed") for e in entries) else []


def test_warm_start_launches_n_crawler_jobs_per_site(
    warm_env: dict[str, str], redis_db: redis.Redis, sandbox: SandboxProcess
) -> None:
    config = config_of(warm_env)
    before = {site: crawlers(redis_db, site) for site in PER_SITE}
    settings = setting_options(WARM_TEST_SETTINGS)
    for site, count in PER_SITE.items():
        done = ops(
            warm_env, "warm", "start", "--sites", site, "--per-site", str(count),
            "-a", f"base_url={sandbox.url(site)}", *settings,
        )  # fmt: skip
        assert done.stdout.count(f"warm-{site}-") == count, done.stdout
    record = warm.load(config)
    assert {site: len(entry.jobs) for site, entry in record.items()} == PER_SITE
    job_ids = {job for entry in record.values() for job in entry.jobs}
    wait_for(lambda: job_ids <= set(running(config)), JOB_START_SECONDS, "warm jobs running in Scrapyd", 0.5)
    for site, count in PER_SITE.items():  # each job is a crawler holding its lease in Redis
        wait_for(lambda s=site, n=count: len(crawlers(redis_db, s) - before[s]) == n, JOB_START_SECONDS, site)
    status = ops(warm_env, "warm", "status").stdout
    assert sorted(line.split()[1] for line in status.splitlines() if "running" in line) == sorted(job_ids)
    password = urlsplit(warm_env["REDIS_URL"]).password
    assert password
    for job_id, job in running(config).items():
        if job_id not in job_ids:
            continue
        process = psutil.Process(job["pid"])
        assert "warm=1" in process.cmdline()
        assert not [part for part in process.cmdline() if password in part]  # not in its arguments
        assert not [name for name, value in process.environ().items() if password in value]  # nor environ
        assert "REDIS_URL" not in process.environ()


def test_two_warm_crawlers_of_one_site_share_the_queue_and_never_run_a_search_twice(
    warm_env: dict[str, str], redis_db: redis.Redis, clean_sandbox: SandboxProcess
) -> None:
    clean_sandbox.set_faults("amazon", latency_ms=400, path_prefix="/s")  # searches overlap
    amazon_crawlers = crawlers(redis_db, "amazon")
    assert len(amazon_crawlers) == 2
    search_ids = [search(redis_db, "amazon", QUERY, max_pages=1) for _ in range(10)]
    wait_for(lambda: all(site_done(redis_db, s) for s in search_ids), SEARCH_SECONDS, "10 searches done", 0.2)
    expected = set(amazon_offers(QUERY, 1))
    taken_by: set[str] = set()
    for search_id in search_ids:
        entries = [entry for _, entry in stream(redis_db, search_id)]
        started = [entry for entry in entries if entry.event == "site-started"]
        assert len(started) == 1, entries  # taken once, by one crawler
        assert [entry.event for entry in entries].count("site-done") == 1
        offers, end = contract.site_results(entries, "amazon")
        assert end is not None
        assert end.event == "site-done"
        assert {offer["source_id"] for offer in offers} == expected
        taken_by.add(started[0].data["crawler"])
    assert taken_by == amazon_crawlers  # both crawlers took searches from the one queue


def test_a_scheduled_tick_becomes_a_bulk_job_that_a_warm_crawler_runs(
    warm_env: dict[str, str], redis_db: redis.Redis, clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    config = config_of(warm_env)
    path = tmp_path / "schedules.toml"
    path.write_text(
        '[[schedule]]\nname = "noon-phones"\nspider = "noon"\nevery_minutes = 60\nwarm = true\n'
        f'job = "bulk"\nargs = {{ q = "{QUERY}", max_pages = 1 }}\n'
    )
    scrapyd_jobs = all_jobs(config)
    done = ops(warm_env, "schedule", "--file", str(path), "--once")
    search_id = done.stdout.split("noon-phones: ", 1)[1].split()[0]
    assert search_id.startswith("schedule.noon-phones.")
    entries = wait_for(
        lambda: site_done(redis_db, search_id), SEARCH_SECONDS, "the scheduled search done", 0.2
    )
    assert all_jobs(config) == scrapyd_jobs  # no Scrapyd job was submitted for it
    started = [entry for entry in entries if entry.event == "site-started"]
    assert [entry.data["crawler"] for entry in started] == list(crawlers(redis_db, "noon"))
    offers, end = contract.site_results(entries, "noon")
    assert end is not None
    assert end.event == "site-done"
    expected = set(noon_offers(QUERY, 1))
    assert {offer["source_id"] for offer in offers} == expected
    assert {offer["job"] for offer in offers} == {"bulk"}
    with MongoClient(warm_env["MONGO_URI"]) as mongo:
        offers = mongo[warm_env["MONGO_DATABASE"]].offers

        def stored_all() -> dict[str, dict[str, Any]]:  # the store writes in batches, every flush interval
            stored = {doc["source_id"]: doc for doc in offers.find({"source": "noon"})}
            return stored if expected <= set(stored) else {}

        stored = wait_for(stored_all, STORE_SECONDS, "the items in the store", 0.2)  # through the pipelines
    assert {stored[source_id]["job"] for source_id in expected} == {"bulk"}


def test_a_warm_crawler_killed_in_scrapyd_is_started_again_by_the_keeper(
    warm_env: dict[str, str], redis_db: redis.Redis, tmp_path: Path
) -> None:
    config = config_of(warm_env)
    victim, survivor = warm.load(config)["amazon"].jobs
    amazon_crawlers = crawlers(redis_db, "amazon")
    path = tmp_path / "schedules.toml"  # `schedule` wants one; its first tick queues one noon search
    path.write_text('[[schedule]]\nspider = "noon"\nevery_minutes = 60\nwarm = true\nargs = { q = "tv" }\n')
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "looqta.ops", "schedule", "--file", str(path)],
        cwd=PROJECT_ROOT,
        env={**os.environ, **warm_env, "PYTHONPATH": str(PROJECT_ROOT), "LOOQTA_OPS_WARM_CHECK_SECONDS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "schedule.log").open("wb"),
    )
    try:
        os.kill(running(config)[victim]["pid"], signal.SIGKILL)

        def replaced() -> list[str]:
            jobs = warm.load(config)["amazon"].jobs
            return jobs if victim not in jobs and len(jobs) == 2 else []

        jobs = wait_for(replaced, JOB_START_SECONDS, "the keeper's new job", 0.5)  # on the scheduler's tick
    finally:
        scheduler.terminate()
        scheduler.wait(30)
    assert jobs[0] == survivor
    assert jobs[1].startswith("warm-amazon-")
    wait_for(lambda: jobs[1] in running(config), JOB_START_SECONDS, "the new job running", 0.5)
    new_crawler = wait_for(
        lambda: crawlers(redis_db, "amazon") - amazon_crawlers, JOB_START_SECONDS, "in Redis"
    )
    assert len(new_crawler) == 1  # a crawler taking searches again
    assert warm.keep(config) == []  # nothing missing any more
    assert warm.load(config)["amazon"].jobs == jobs
    log = (tmp_path / "schedule.log").read_text()
    assert f"warm amazon crawler scheduled as Scrapyd job {jobs[1]}" in log, log[-3000:]


def test_more_warm_crawlers_than_scrapyd_slots_are_refused(warm_env: dict[str, str]) -> None:
    config = config_of(warm_env)
    ops(warm_env, "warm", "stop", "--sites", "noon")
    done = ops(warm_env, "warm", "start", "--sites", "noon", "--per-site", "2", check=False)
    assert done.returncode == 2
    assert "4 warm crawlers (amazon 2, noon 2) plus one slot for other jobs need max_proc >= 5" in done.stderr
    assert "Scrapyd has 4" in done.stderr
    assert set(warm.load(config)) == {"amazon"}  # nothing recorded, nothing scheduled


def test_warm_stop_cancels_them(warm_env: dict[str, str], redis_db: redis.Redis) -> None:
    config = config_of(warm_env)
    jobs = {job: site for site, entry in warm.load(config).items() for job in entry.jobs}
    assert jobs
    done = ops(warm_env, "warm", "stop")
    assert set(done.stdout.split(": ", 1)[1].split()) == set(jobs)

    def finished() -> bool:
        return set(jobs) <= {job["id"] for job in scrapyd.client(config).jobs(PROJECT)["finished"]}

    wait_for(finished, JOB_START_SECONDS, "the warm jobs finished", 0.5)
    assert warm.load(config) == {}
    assert "no warm crawlers" in ops(warm_env, "warm", "status").stdout
    for site in set(jobs.values()):  # closed cleanly: each handed its searches back and left
        wait_for(lambda s=site: not crawlers(redis_db, s), 30, f"the {site} crawlers gone from Redis")
    password = urlsplit(warm_env["REDIS_URL"]).password
    assert password
    for job_id, site in jobs.items():
        log = scrapyd.job_log(config, site, job_id).read_text()
        assert "'finish_reason': 'shutdown'" in log
        assert password not in log
