"""Run Scrapyd from the project's virtualenv, deploy the project to it, and talk to it.

Scrapyd runs each job with its own interpreter, environment and working
directory, so it is started from ``.venv/bin`` with an environment carrying
absolute paths (``OpsConfig.child_env``); jobs inherit both. That environment has
no Scrapyd credentials: Scrapyd reads them from its 0600 config file only.
"""

from __future__ import annotations

import configparser
import logging
import os
import signal
import subprocess
import time
from string import Template
from typing import TYPE_CHECKING, Any

import psutil
import requests
from scrapyd_client.pyclient import ScrapydClient

from looqta.datadir import PRIVATE_UMASK, private_dir
from looqta.health.joblog import health_from_log
from looqta.ops.config import PROJECT, PROJECT_ROOT

if TYPE_CHECKING:
    from pathlib import Path

    from looqta.ops.config import OpsConfig

logger = logging.getLogger(__name__)

CONF_TEMPLATE = PROJECT_ROOT / "deploy" / "scrapyd.conf"
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0


class ScrapydError(RuntimeError):
    """Scrapyd could not be started, reached or deployed to."""


def conf_value(value: str) -> str:
    """``value`` as Scrapyd's configparser reads it back: ``%`` starts an interpolation there."""
    return value.replace("%", "%%")


def render_conf(config: OpsConfig) -> str:
    """deploy/scrapyd.conf with its fields filled in."""
    return Template(CONF_TEMPLATE.read_text()).substitute(
        port=config.port,
        username=conf_value(config.username),
        password=conf_value(config.password),
        max_proc=config.max_proc,
        scrapyd_dir=config.scrapyd_dir,
    )


def client(config: OpsConfig) -> ScrapydClient:
    return ScrapydClient(config.url, config.username, config.password)


def _pid_file(config: OpsConfig) -> Path:
    return config.scrapyd_dir / "scrapyd.pid"


def running_pid(config: OpsConfig) -> int | None:
    """The pid of the Scrapyd this data directory started, if it still runs."""
    try:
        pid = int(_pid_file(config).read_text())
    except (FileNotFoundError, ValueError):
        return None
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE or "scrapyd" not in " ".join(process.cmdline()):
            return None
    except psutil.NoSuchProcess:
        return None
    return pid


def answers(config: OpsConfig) -> bool:
    try:
        response = requests.get(
            f"{config.url}/daemonstatus.json", auth=(config.username, config.password), timeout=2
        )
    except requests.RequestException:
        return False
    return response.status_code == 200 and response.json().get("status") == "ok"


def start(config: OpsConfig) -> int:
    """Start Scrapyd in the background (or find the one already running); return its pid."""
    pid = running_pid(config)
    if pid is not None and answers(config):
        logger.info("Scrapyd already running (pid %d) at %s", pid, config.url)
        return pid
    private_dir(config.data_dir)
    private_dir(config.scrapyd_dir)
    conf = config.scrapyd_dir / "scrapyd.conf"
    conf.touch(mode=0o600)
    conf.chmod(0o600)
    conf.write_text(render_conf(config))
    executable = config.venv_bin / "scrapyd"
    if not executable.exists():
        raise ScrapydError(f"{executable} not found: run deploy/bootstrap.sh first")
    log_path = config.scrapyd_dir / "scrapyd.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [str(executable)],
            cwd=config.scrapyd_dir,  # Scrapyd reads ./scrapyd.conf
            env=config.child_env(),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives this command; stopped with `scrapyd stop`
            umask=PRIVATE_UMASK,  # its logs, items and eggs, and its jobs' files: owner-only
        )
    _pid_file(config).write_text(str(process.pid))
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            raise ScrapydError(f"Scrapyd exited with status {process.returncode}:\n{tail}")
        if answers(config):
            logger.info(
                "Scrapyd started (pid %d) at %s, data in %s", process.pid, config.url, config.scrapyd_dir
            )
            return process.pid
        time.sleep(0.2)
    process.terminate()
    raise ScrapydError(f"Scrapyd did not answer on {config.url} within {START_TIMEOUT_SECONDS:.0f} s")


def stop(config: OpsConfig) -> bool:
    """Stop the Scrapyd this data directory started; False when none was running."""
    pid = running_pid(config)
    if pid is None:
        return False
    os.kill(pid, signal.SIGTERM)
    try:
        psutil.Process(pid).wait(STOP_TIMEOUT_SECONDS)
    except psutil.TimeoutExpired:
        os.kill(pid, signal.SIGKILL)
    except psutil.NoSuchProcess:
        pass
    _pid_file(config).unlink(missing_ok=True)
    return True


def deploy(config: OpsConfig, version: str | None = None) -> str:
    """Build the project's egg and upload it with scrapyd-client's ``scrapyd-deploy``; return its output."""
    command = [str(config.venv_bin / "scrapyd-deploy"), "-p", PROJECT]
    if version:
        command += ["--version", version]
    done = subprocess.run(
        command, cwd=PROJECT_ROOT, env=config.deploy_env(), capture_output=True, text=True, check=False
    )
    output = done.stdout + done.stderr
    if done.returncode != 0 or '"status": "ok"' not in output:
        raise ScrapydError(f"scrapyd-deploy failed ({done.returncode}):\n{output[-3000:]}")
    return output


def schedule(
    config: OpsConfig,
    spider: str,
    args: dict[str, Any],
    *,
    priority: float = 0.0,
    settings: dict[str, Any] | None = None,
    jobid: str | None = None,
) -> str:
    """POST schedule.json; return the job id (``jobid``, when given, names the job)."""
    data: list[tuple[str, str]] = [("priority", str(priority))]
    if jobid:
        data.append(("jobid", jobid))
    data += [("setting", f"{name}={value}") for name, value in (settings or {}).items()]
    data += [(name, str(value)) for name, value in args.items()]
    return client(config).schedule(PROJECT, spider, data)


def job_log(config: OpsConfig, spider: str, job_id: str) -> Path:
    """Where Scrapyd writes a job's log (``logs_dir`` of deploy/scrapyd.conf)."""
    return config.scrapyd_dir / "logs" / PROJECT / spider / f"{job_id}.log"


def jobs(config: OpsConfig) -> dict[str, Any]:
    """listjobs.json, each finished job with its run health read from its log (``None``: no verdict)."""
    listing: dict[str, Any] = client(config).jobs(PROJECT)
    for job in listing.get("finished", []):
        job["health"] = health_from_log(job_log(config, job["spider"], job["id"]))
    return listing


def active_spiders(config: OpsConfig) -> set[str]:
    """Spiders with a job pending or running in the project."""
    jobs = client(config).jobs(PROJECT)
    return {job["spider"] for state in ("pending", "running") for job in jobs.get(state, [])}


def cancel(config: OpsConfig, job_id: str) -> str:
    """cancel.json (SIGINT to a running job: Scrapy stops cleanly); the job's previous state."""
    return str(client(config).cancel(PROJECT, job_id).get("prevstate"))


def max_proc(config: OpsConfig) -> int:
    """``max_proc`` of the Scrapyd config ops rendered (Scrapyd's own rule for 0: per CPU)."""
    parser = configparser.ConfigParser()
    if not parser.read(config.scrapyd_dir / "scrapyd.conf"):
        raise ScrapydError(f"{config.scrapyd_dir / 'scrapyd.conf'} not found: start Scrapyd with looqta.ops")
    section = parser["scrapyd"]
    value = section.getint("max_proc", 0)
    if value > 0:
        return value
    return (psutil.cpu_count(logical=True) or 1) * section.getint("max_proc_per_cpu", 4)
