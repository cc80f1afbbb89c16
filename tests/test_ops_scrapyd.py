"""A real Scrapyd on loopback, started and deployed to by looqta's own commands."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
import pytest
import requests
from crawling import TEST_CRAWL_SETTINGS
from pymongo import MongoClient
from test_spider_amazon import expected_offers as amazon_offers
from test_spider_noon import expected_offers as noon_offers

from looqta.ops import scrapyd
from looqta.ops.__main__ import ScrapydSubmitter
from looqta.ops.config import PROJECT, PROJECT_ROOT, OpsConfig
from looqta.ops.schedules import Schedule, tick

if TYPE_CHECKING:
    from collections.abc import Iterator

    from looqta.sandbox.client import SandboxProcess

JOB_TIMEOUT_SECONDS = 120
QUERY = "iphone 15 pro max"
#: The sandbox mirrors noon's robots.txt; its profile's permission, as a setting value.
ROBOTS_PERMITTED = json.dumps(TEST_CRAWL_SETTINGS["LOOQTA_ROBOTS_PERMITTED"])
OFFERS = {"amazon": amazon_offers, "noon": noon_offers}
#: configparser reads "%" as the start of an interpolation: Scrapyd would not start unescaped.
PASSWORD = "test-%(pw)s-100%"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def ops_env(tmp_path_factory: pytest.TempPathFactory, mongo_uri: str) -> Iterator[dict[str, str]]:
    env = {
        "MONGO_URI": mongo_uri,  # Scrapyd's jobs inherit its environment
        "MONGO_DATABASE": "scrapyd_jobs",
        "LOOQTA_DATA_DIR": str(tmp_path_factory.mktemp("looqta-data")),
        "LOOQTA_SCRAPYD_PORT": str(free_port()),
        "LOOQTA_SCRAPYD_USERNAME": "looqta",
        "LOOQTA_SCRAPYD_PASSWORD": PASSWORD,
    }
    config = OpsConfig.from_env({**os.environ, **env})
    up = ops(env, "up")  # start Scrapyd from the venv and deploy, in one command
    try:
        assert f"Scrapyd running (pid {scrapyd.running_pid(config)})" in up.stdout
        assert '"status": "ok"' in up.stdout
        assert scrapyd.client(config).spiders(PROJECT) == ["amazon", "noon"]
        yield env
    finally:
        scrapyd.stop(config)


#: Commands that run scrapyd-deploy, which builds the egg in the project directory (``setup.py clean
#: -a``, then ``bdist_egg`` into build/ and looqta.egg-info/): two at once would undo each other.
DEPLOYING = frozenset({"up", "deploy"})


@contextlib.contextmanager
def one_build_at_a_time() -> Iterator[None]:
    """Held by one process at a time (pytest-xdist workers, other pytest runs of this tree)."""
    with (PROJECT_ROOT / "setup.py").open("rb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ops(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    with one_build_at_a_time() if DEPLOYING & set(args[:1]) else contextlib.nullcontext():
        done = subprocess.run(
            [sys.executable, "-m", "looqta.ops", *args],
            cwd=PROJECT_ROOT,
            env={**os.environ, **env, "PYTHONPATH": str(PROJECT_ROOT)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def config_of(env: dict[str, str]) -> OpsConfig:
    return OpsConfig.from_env({**os.environ, **env})


def wait_finished(config: OpsConfig, job_ids: set[str]) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        finished = {job["id"]: job for job in scrapyd.client(config).jobs(PROJECT)["finished"]}
        if job_ids <= set(finished):
            return {job_id: finished[job_id] for job_id in job_ids}
        time.sleep(0.5)
    raise AssertionError(f"jobs {job_ids} not finished within {JOB_TIMEOUT_SECONDS} s")


def job_items(config: OpsConfig, spider: str, job_id: str) -> list[dict[str, Any]]:
    path = config.scrapyd_dir / "items" / PROJECT / spider / f"{job_id}.jl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def sandbox_schedules(sandbox: SandboxProcess, path: Path) -> Path:
    lines = []
    for spider in ("amazon", "noon"):
        lines += [
            "[[schedule]]",
            f'spider = "{spider}"',
            "every_minutes = 60",
            f'args = {{ q = "{QUERY}", base_url = "{sandbox.url(spider)}" }}',
            f"settings = {{ DOWNLOAD_SLOTS = '{json.dumps(TEST_CRAWL_SETTINGS['DOWNLOAD_SLOTS'])}', "
            "AUTOTHROTTLE_START_DELAY = 0, LOOQTA_THROTTLE_ENABLED = 'False', "
            f"LOOQTA_ROBOTS_PERMITTED = '{ROBOTS_PERMITTED}' }}",
            "",
        ]
    path.write_text("\n".join(lines))
    return path


def test_generated_scrapyd_conf_is_loopback_private_and_absolute(ops_env: dict[str, str]) -> None:
    config = config_of(ops_env)
    conf = config.scrapyd_dir / "scrapyd.conf"
    text = conf.read_text()
    assert "bind_address     = 127.0.0.1" in text
    assert f"max_proc         = {2 * psutil.cpu_count(logical=True)}" in text
    assert f"eggs_dir         = {config.scrapyd_dir}/eggs" in text
    assert stat.S_IMODE(conf.stat().st_mode) == 0o600  # it holds the password
    assert "password         = test-%%(pw)s-100%%\n" in text  # escaped for configparser
    assert PASSWORD not in (PROJECT_ROOT / "deploy" / "scrapyd.conf").read_text()
    for directory in (config.data_dir, config.scrapyd_dir):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_scrapyd_started_with_a_percent_in_its_password_answers_to_it(ops_env: dict[str, str]) -> None:
    config = config_of(ops_env)
    assert "%" in config.password
    assert scrapyd.answers(config)  # the module's Scrapyd started (and deployed) with it
    url = f"{config.url}/daemonstatus.json"
    assert requests.get(url, auth=("looqta", PASSWORD), timeout=5).status_code == 200
    assert requests.get(url, auth=("looqta", "test-%%(pw)s-100%%"), timeout=5).status_code == 401


def test_scrapyd_and_its_jobs_do_not_receive_the_credentials(
    ops_env: dict[str, str], clean_sandbox: SandboxProcess
) -> None:
    config = config_of(ops_env)
    clean_sandbox.set_faults("noon", latency_ms=3000, path_prefix="/uae-en/")  # keeps the job running
    job_id = scrapyd.schedule(
        config,
        "noon",
        {"q": QUERY, "base_url": clean_sandbox.url("noon")},
        settings={"LOOQTA_THROTTLE_ENABLED": "False", "LOOQTA_ROBOTS_PERMITTED": ROBOTS_PERMITTED},
    )
    try:
        deadline = time.monotonic() + JOB_TIMEOUT_SECONDS
        running: list[dict[str, Any]] = []
        while not running and time.monotonic() < deadline:
            running = [j for j in scrapyd.client(config).jobs(PROJECT)["running"] if j["id"] == job_id]
            time.sleep(0.2)
        assert running, f"job {job_id} never ran"
        job = psutil.Process(running[0]["pid"])
        server = psutil.Process(scrapyd.running_pid(config))
        for process in (server, job):
            environ = process.environ()
            assert not {"LOOQTA_SCRAPYD_USERNAME", "LOOQTA_SCRAPYD_PASSWORD"} & set(environ)
            assert not [name for name, value in environ.items() if PASSWORD in value]
        assert job.environ()["LOOQTA_DATA_DIR"] == str(config.data_dir)  # what it needs is there
        assert "Umask:\t0077\n" in Path(f"/proc/{job.pid}/status").read_text()  # its files: owner-only
    finally:
        clean_sandbox.clear_faults()
    wait_finished(config, {job_id})
    log = scrapyd.job_log(config, "noon", job_id).read_text()
    assert "Telnet" not in log  # no telnet console, no password in the log
    assert stat.S_IMODE(scrapyd.job_log(config, "noon", job_id).stat().st_mode) == 0o600


def test_scheduled_sites_both_finish_with_their_items(
    ops_env: dict[str, str], clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    config = config_of(ops_env)
    done = ops(
        ops_env, "schedule", "--file", str(sandbox_schedules(clean_sandbox, tmp_path / "s.toml")), "--once"
    )
    job_ids = dict(line.split(": ", 1) for line in done.stdout.strip().splitlines())
    assert set(job_ids) == {"amazon", "noon"}
    wait_finished(config, set(job_ids.values()))
    with MongoClient(ops_env["MONGO_URI"]) as mongo:
        products = mongo[ops_env["MONGO_DATABASE"]].offers
        for spider, job_id in job_ids.items():
            items = job_items(config, spider, job_id)
            expected = set(OFFERS[spider](QUERY, 1))
            assert {item["source_id"] for item in items} == expected
            assert {item["job"] for item in items} == {"bulk"}
            stored = {doc["source_id"] for doc in products.find({"source": spider}, {"source_id": 1})}
            assert stored >= expected  # stored in MongoDB by the job itself


def test_a_site_still_running_is_skipped_on_the_next_tick(
    ops_env: dict[str, str], clean_sandbox: SandboxProcess
) -> None:
    config = config_of(ops_env)
    clean_sandbox.set_faults("amazon", latency_ms=3000, path_prefix="/s")  # keeps the amazon job busy
    schedule = Schedule(
        name="amazon",
        spider="amazon",
        every_minutes=60,
        args={"q": QUERY, "base_url": clean_sandbox.url("amazon")},
        settings={
            "DOWNLOAD_SLOTS": json.dumps(TEST_CRAWL_SETTINGS["DOWNLOAD_SLOTS"]),
            "LOOQTA_THROTTLE_ENABLED": "False",
        },
    )
    submitter = ScrapydSubmitter(config)
    first = tick(schedule, submitter)
    assert first is not None
    assert tick(schedule, submitter) is None  # pending or running: skipped, not stacked
    clean_sandbox.clear_faults()
    wait_finished(config, {first})
    finished = [job for job in scrapyd.client(config).jobs(PROJECT)["finished"] if job["spider"] == "amazon"]
    assert first in {job["id"] for job in finished}


def test_run_now_starts_a_manual_job(ops_env: dict[str, str], clean_sandbox: SandboxProcess) -> None:
    config = config_of(ops_env)
    done = ops(
        ops_env, "run-now", "noon", "-a", f"q={QUERY}", "-a", f"base_url={clean_sandbox.url('noon')}",
        "-s", f"DOWNLOAD_SLOTS={json.dumps(TEST_CRAWL_SETTINGS['DOWNLOAD_SLOTS'])}",
        "-s", "LOOQTA_THROTTLE_ENABLED=False", "-s", f"LOOQTA_ROBOTS_PERMITTED={ROBOTS_PERMITTED}",
    )  # fmt: skip
    job_id = done.stdout.split()[2].rstrip(":")
    assert "priority 100" in done.stdout
    wait_finished(config, {job_id})
    items = job_items(config, "noon", job_id)
    assert {item["source_id"] for item in items} == set(noon_offers(QUERY, 1))
    assert {item["job"] for item in items} == {"manual"}


def test_a_wrong_password_is_refused(ops_env: dict[str, str]) -> None:
    config = config_of(ops_env)
    assert (
        requests.get(f"{config.url}/daemonstatus.json", auth=("looqta", "wrong"), timeout=5).status_code
        == 401
    )
    assert requests.get(f"{config.url}/daemonstatus.json", timeout=5).status_code == 401
    done = ops({**ops_env, "LOOQTA_SCRAPYD_PASSWORD": "wrong"}, "jobs", check=False)
    assert done.returncode == 1
    assert "Scrapyd refused the request: Unauthorized" in done.stderr


def test_starting_without_credentials_is_refused(tmp_path: Path) -> None:
    done = ops(
        {"LOOQTA_DATA_DIR": str(tmp_path), "LOOQTA_SCRAPYD_PASSWORD": ""}, "scrapyd", "start", check=False
    )
    assert done.returncode == 2
    assert "set LOOQTA_SCRAPYD_USERNAME and LOOQTA_SCRAPYD_PASSWORD" in done.stderr
