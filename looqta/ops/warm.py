"""Warm crawlers as Scrapyd jobs: started, kept running and stopped by ``looqta.ops``.

``warm start`` records what should run (per site: how many crawlers, their arguments and
settings) in ``<LOOQTA_DATA_DIR>/ops/warm.json`` (0600) and schedules the jobs; :func:`keep`
compares that record with Scrapyd's pending and running jobs and schedules one job for each
crawler that exited (``warm start`` runs it, and ``schedule`` every
``LOOQTA_OPS_WARM_CHECK_SECONDS``); ``warm stop`` drops sites from the record and cancels their
jobs. A job's Redis URL is in a 0600 file named by ``LOOQTA_REDIS_URL_FILE``, never in its
arguments or environment; with ``REDIS_URL`` empty the job finds the embedded server itself.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import uuid
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from looqta.datadir import private_dir
from looqta.localserver import exclusive
from looqta.ops import scrapyd
from looqta.ops.config import PROJECT
from looqta.ops.schedules import RESERVED_ARGS

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path

    from looqta.ops.config import OpsConfig

logger = logging.getLogger(__name__)

#: Scrapyd runs pending jobs by priority: a warm crawler started again goes before any crawl.
WARM_PRIORITY = 1000.0
JOB_ID_PREFIX = "warm"
LOCK_TIMEOUT_SECONDS = 30.0
#: A job's own search arguments: each search brings them (looqta/search/warm.py).
SEARCH_ARGS = frozenset({"warm", "q", "max_pages", "details", "job", "search_id"})
#: Settings that hold secrets: on a job's command line every local user would read them.
SECRET_SETTINGS = frozenset({"REDIS_URL", "MONGO_URI", "LOOQTA_REDIS_URL_FILE"})


class WarmError(ValueError):
    """A warm command that cannot be done as asked; the message says why."""


@dataclass
class WarmSite:
    """What should run for one site, and the Scrapyd job ids started for it."""

    per_site: int
    args: dict[str, str] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    jobs: list[str] = field(default_factory=list)


def slots_left(max_proc: int, crawlers: int) -> int:
    """Scrapyd's process slots left for other jobs while ``crawlers`` warm crawlers run."""
    return max_proc - crawlers


def check_slots(max_proc: int, per_site: Mapping[str, int]) -> None:
    """Refuse warm crawlers that would leave Scrapyd no slot for scheduled and manual jobs."""
    crawlers = sum(per_site.values())
    if slots_left(max_proc, crawlers) < 1:
        detail = ", ".join(f"{site} {count}" for site, count in sorted(per_site.items()))
        raise WarmError(
            f"{crawlers} warm crawlers ({detail}) plus one slot for other jobs need max_proc >= "
            f"{crawlers + 1}, Scrapyd has {max_proc}: set LOOQTA_SCRAPYD_MAX_PROC and restart Scrapyd "
            "(`python -m looqta.ops scrapyd stop`, then `up`), or start fewer"
        )


def check_request(args: Mapping[str, str], settings: Mapping[str, str]) -> None:
    search = sorted(set(args) & SEARCH_ARGS)
    if search:
        raise WarmError(f"-a {', '.join(search)}: a warm crawler takes these from each search, not at start")
    reserved = sorted(set(args) & RESERVED_ARGS | {name for name in args if name.startswith("_")})
    if reserved:
        raise WarmError(f"-a {', '.join(reserved)}: Scrapyd's own names, not spider arguments")
    secret = sorted(set(settings) & SECRET_SETTINGS)
    if secret:
        raise WarmError(
            f"-s {', '.join(secret)}: would be on the job's command line; set REDIS_URL / MONGO_URI "
            "in the environment of looqta.ops instead"
        )


# the record -------------------------------------------------------------------------------------


def _ops_dir(config: OpsConfig) -> Path:
    return private_dir(config.data_dir / "ops")


@contextlib.contextmanager
def _locked(config: OpsConfig) -> Iterator[dict[str, WarmSite]]:
    """The record, held against other ops processes (the scheduler's keeper, a CLI); saved on exit."""
    directory = _ops_dir(config)
    with exclusive(directory, LOCK_TIMEOUT_SECONDS, WarmError):
        sites = load(config)
        try:
            yield sites
        finally:  # saved even when Scrapyd failed midway: the jobs already scheduled stay known
            _write_private(directory / "warm.json", json.dumps({s: asdict(w) for s, w in sites.items()}))


def load(config: OpsConfig) -> dict[str, WarmSite]:
    try:
        raw = json.loads((config.data_dir / "ops" / "warm.json").read_text())
    except FileNotFoundError:
        return {}
    return {site: WarmSite(**entry) for site, entry in raw.items()}


def _write_private(path: Path, text: str) -> None:
    temporary = path.with_suffix(".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(temporary, path)


def job_settings(config: OpsConfig, site: WarmSite) -> dict[str, str]:
    """The site's settings, and where the job reads the Redis URL (when ops has one)."""
    settings = dict(site.settings)
    if config.redis_url:
        path = _ops_dir(config) / "redis.url"
        _write_private(path, config.redis_url)
        settings["LOOQTA_REDIS_URL_FILE"] = str(path)
    return settings


# commands ---------------------------------------------------------------------------------------


def _alive(config: OpsConfig) -> dict[str, str]:
    """Job id -> state of the project's pending and running jobs."""
    listing = scrapyd.client(config).jobs(PROJECT)
    return {job["id"]: state for state in ("pending", "running") for job in listing.get(state, [])}


def _fill(config: OpsConfig, sites: dict[str, WarmSite], alive: Mapping[str, str]) -> list[str]:
    started: list[str] = []
    for name, site in sorted(sites.items()):
        site.jobs = [job for job in site.jobs if job in alive]
        for _ in range(site.per_site - len(site.jobs)):
            job_id = scrapyd.schedule(
                config,
                name,
                {**site.args, "warm": "1"},
                priority=WARM_PRIORITY,
                settings=job_settings(config, site),
                jobid=f"{JOB_ID_PREFIX}-{name}-{uuid.uuid4().hex[:12]}",
            )
            site.jobs.append(job_id)
            started.append(job_id)
            logger.info("warm %s crawler scheduled as Scrapyd job %s", name, job_id)
    return started


def keep(config: OpsConfig) -> list[str]:
    """Start a job for every recorded warm crawler that is no longer pending or running; their ids."""
    with _locked(config) as sites:
        return _fill(config, sites, _alive(config)) if sites else []


def start(
    config: OpsConfig,
    names: list[str],
    per_site: int,
    args: Mapping[str, str] | None = None,
    settings: Mapping[str, str] | None = None,
) -> list[str]:
    """Record ``per_site`` warm crawlers for each of ``names`` and schedule them; the new job ids."""
    if per_site < 1:
        raise WarmError(f"--per-site must be >= 1, got {per_site}")
    args, settings = dict(args or {}), dict(settings or {})
    check_request(args, settings)
    deployed = set(scrapyd.client(config).spiders(PROJECT))
    unknown = sorted(set(names) - deployed)
    if unknown:
        raise WarmError(
            f"no such spider deployed: {', '.join(unknown)} (deployed: {', '.join(sorted(deployed))})"
        )
    with _locked(config) as sites:
        already = sorted(set(names) & set(sites))
        if already:
            raise WarmError(f"already warm: {', '.join(already)}; `warm stop --sites ...` first")
        wanted = {name: site.per_site for name, site in sites.items()} | dict.fromkeys(names, per_site)
        check_slots(scrapyd.max_proc(config), wanted)
        for name in names:
            sites[name] = WarmSite(per_site=per_site, args=args, settings=settings)
        return _fill(config, sites, _alive(config))


def stop(config: OpsConfig, names: list[str] | None = None) -> list[str]:
    """Forget the sites (all by default) and cancel their jobs; the cancelled job ids."""
    with _locked(config) as sites:
        gone = {name: sites.pop(name) for name in list(sites) if names is None or name in names}
    alive = _alive(config)
    cancelled = [job for site in gone.values() for job in site.jobs if job in alive]
    for job_id in cancelled:
        scrapyd.cancel(config, job_id)
    return cancelled


def status(config: OpsConfig) -> list[dict[str, Any]]:
    """One row per recorded crawler: site, Scrapyd job id, state (pending, running, finished, gone)."""
    sites = load(config)
    listing = scrapyd.client(config).jobs(PROJECT)
    jobs = {job["id"]: (state, job) for state in ("pending", "running", "finished") for job in listing[state]}
    rows = []
    for name, site in sorted(sites.items()):
        for job_id in site.jobs:
            state, job = jobs.get(job_id, ("gone", {}))
            rows.append({"site": name, "job": job_id, "state": state, "pid": job.get("pid")})
    return rows
