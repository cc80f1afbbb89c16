"""``python -m looqta.ops``: run Scrapyd, deploy, schedule sites, start manual jobs, show status.

    python -m looqta.ops up                      # scrapyd start + deploy, in one command
    python -m looqta.ops scrapyd start|stop|status
    python -m looqta.ops deploy [--version V]
    python -m looqta.ops schedule [--file deploy/schedules.toml] [--once]
    python -m looqta.ops warm start [--sites amazon,noon] [--per-site N] [-a NAME=VALUE] [-s NAME=VALUE]
    python -m looqta.ops warm status|stop [--sites amazon,noon]
    python -m looqta.ops run-now amazon -a q=iphone [-a max_pages=2] [-s NAME=VALUE]
    python -m looqta.ops jobs                    # finished jobs say "health": "green" / "RED (...)"
    python -m looqta.ops status

Scrapyd credentials come from LOOQTA_SCRAPYD_USERNAME / LOOQTA_SCRAPYD_PASSWORD,
its port from LOOQTA_SCRAPYD_PORT (6800), its process slots from LOOQTA_SCRAPYD_MAX_PROC (one per
CPU), state from LOOQTA_DATA_DIR (.looqta); Redis (warm crawlers, warm schedules) from REDIS_URL
or the embedded server. `schedule` starts again, every LOOQTA_OPS_WARM_CHECK_SECONDS (30), the
warm crawlers that exited.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
from pathlib import Path
from typing import Any

import requests
from scrapyd_client.exceptions import ErrorResponse, MalformedResponse

from looqta.ops import scrapyd, warm
from looqta.ops.config import PROJECT, PROJECT_ROOT, OpsConfig, OpsConfigError
from looqta.ops.queued import QueueSubmitter
from looqta.ops.schedules import BySchedule, Schedule, ScheduleError, build_scheduler, load_schedules, tick
from looqta.ops.status import running_crawls
from looqta.pqueues import REQUEST_PRIORITY_BY_JOB
from looqta.redisstore.client import connect_sync
from looqta.redisstore.config import RedisConfig

MANUAL_PRIORITY = float(REQUEST_PRIORITY_BY_JOB["manual"])


class ScrapydSubmitter:
    """The scheduler's view of Scrapyd."""

    def __init__(self, config: OpsConfig) -> None:
        self.config = config

    def is_active(self, schedule: Schedule) -> bool:
        return schedule.spider in scrapyd.active_spiders(self.config)

    def submit(self, schedule: Schedule) -> str:
        return scrapyd.schedule(
            self.config,
            schedule.spider,
            schedule.spider_args(),
            priority=schedule.priority,
            settings=schedule.settings,
        )


def pairs(values: list[str], flag: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name:
            raise SystemExit(f"error: {flag} takes NAME=VALUE, got {value!r}")
        result[name] = text
    return result


def submitter_for(config: OpsConfig, schedules: list[Schedule]) -> BySchedule:
    """Scrapyd for plain schedules; the search queue in Redis (REDIS_URL or the embedded server under
    the data dir, the one the warm jobs find) when any schedule is warm."""
    queue = None
    if any(schedule.warm for schedule in schedules):
        redis_config = RedisConfig(url=config.redis_url, data_dir=config.data_dir / "redis")
        queue = QueueSubmitter(connect_sync(redis_config))
    return BySchedule(ScrapydSubmitter(config), queue)


def run_warm(config: OpsConfig, options: argparse.Namespace) -> int:
    names = [name for name in (options.sites or "").split(",") if name]
    if options.action == "start":
        names = names or scrapyd.client(config).spiders(PROJECT)
        args, settings = pairs(options.args, "-a"), pairs(options.settings, "-s")
        started = warm.start(config, names, options.per_site, args, settings)
        print(f"warm crawlers scheduled in Scrapyd: {' '.join(started)}")
    elif options.action == "stop":
        cancelled = warm.stop(config, names or None)
        print(f"warm crawlers cancelled: {' '.join(cancelled) or 'none running'}")
    else:
        rows = warm.status(config)
        for row in rows:
            print(f"{row['site']:<10} {row['job']:<32} {row['state']:<9} pid {row['pid'] or '-'}")
        if not rows:
            print("no warm crawlers (`python -m looqta.ops warm start`)")
    return 0


def parser() -> argparse.ArgumentParser:
    main = argparse.ArgumentParser(prog="python -m looqta.ops", description=__doc__.splitlines()[0])
    commands = main.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start Scrapyd from the venv (if needed) and deploy the project")
    server = commands.add_parser("scrapyd", help="start, stop or check the local Scrapyd")
    server.add_argument("action", choices=("start", "stop", "status"))
    deploy = commands.add_parser("deploy", help="build the egg and upload it to Scrapyd")
    deploy.add_argument("--version")
    sched = commands.add_parser("schedule", help="run the per-site interval schedules")
    sched.add_argument("--file", type=Path, default=PROJECT_ROOT / "deploy" / "schedules.toml")
    sched.add_argument("--once", action="store_true", help="one tick of every schedule, then exit")
    run_now = commands.add_parser("run-now", help="schedule a manual job ahead of the bulk ones")
    run_now.add_argument("spider")
    run_now.add_argument("-a", dest="args", action="append", default=[], metavar="NAME=VALUE")
    run_now.add_argument("-s", dest="settings", action="append", default=[], metavar="NAME=VALUE")
    run_now.add_argument("--priority", type=float, default=MANUAL_PRIORITY)
    warm_cmd = commands.add_parser("warm", help="the warm crawlers, as Scrapyd jobs kept running")
    warm_cmd.add_argument("action", choices=("start", "status", "stop"))
    warm_cmd.add_argument("--sites", help="comma-separated spiders (default: every deployed one)")
    warm_cmd.add_argument("--per-site", type=int, default=1, help="crawler processes per site (start)")
    warm_cmd.add_argument("-a", dest="args", action="append", default=[], metavar="NAME=VALUE")
    warm_cmd.add_argument("-s", dest="settings", action="append", default=[], metavar="NAME=VALUE")
    commands.add_parser("jobs", help="Scrapyd's pending, running and finished jobs (with run health)")
    commands.add_parser("status", help="live status of the crawls running on this machine")
    return main


def run(options: argparse.Namespace) -> int:
    if options.command == "status":
        print(json.dumps(running_crawls(OpsConfig.from_env(need_credentials=False).data_dir), indent=1))
        return 0
    config = OpsConfig.from_env()
    if options.command == "up":
        pid = scrapyd.start(config)
        print(f"Scrapyd running (pid {pid}) at {config.url}; data in {config.scrapyd_dir}")
        print(scrapyd.deploy(config).strip())
    elif options.command == "scrapyd":
        if options.action == "start":
            pid = scrapyd.start(config)
            print(f"Scrapyd running (pid {pid}) at {config.url}; data in {config.scrapyd_dir}")
        elif options.action == "stop":
            print("Scrapyd stopped" if scrapyd.stop(config) else "Scrapyd was not running")
        else:
            up = scrapyd.answers(config)
            print(f"Scrapyd at {config.url}: {'up' if up else 'down'}")
            return 0 if up else 1
    elif options.command == "deploy":
        print(scrapyd.deploy(config, options.version).strip())
    elif options.command == "schedule":
        schedules = load_schedules(options.file)
        submitter = submitter_for(config, schedules)
        if options.once:
            for schedule in schedules:
                job_id = tick(schedule, submitter)
                print(f"{schedule.name}: {job_id or 'skipped (still pending or running)'}")
            restarted = warm.keep(config)
            if restarted:
                print(f"warm crawlers started again: {' '.join(restarted)}")
            return 0
        print(f"scheduling {len(schedules)} site(s) from {options.file}; Ctrl-C to stop", flush=True)
        keeper = functools.partial(warm.keep, config)
        build_scheduler(schedules, submitter, keeper=keeper, keeper_seconds=config.warm_check_seconds).start()
    elif options.command == "warm":
        return run_warm(config, options)
    elif options.command == "run-now":
        args: dict[str, Any] = {**pairs(options.args, "-a"), "job": "manual"}
        job_id = scrapyd.schedule(
            config, options.spider, args, priority=options.priority, settings=pairs(options.settings, "-s")
        )
        print(
            f"manual job {job_id}: {options.spider} {args} (priority {options.priority:g}, project {PROJECT})"
        )
    elif options.command == "jobs":
        print(json.dumps(scrapyd.jobs(config), indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    options = parser().parse_args(argv)
    try:
        return run(options)
    except (OpsConfigError, ScheduleError, scrapyd.ScrapydError, warm.WarmError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except requests.RequestException as exc:
        print(f"error: Scrapyd not reachable: {exc}", file=sys.stderr)
        return 1
    except (ErrorResponse, MalformedResponse) as exc:
        print(
            f"error: Scrapyd refused the request: {exc} "
            "(check LOOQTA_SCRAPYD_USERNAME / LOOQTA_SCRAPYD_PASSWORD)",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
