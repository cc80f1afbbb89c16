"""The embedded Redis from a terminal.

    python -m looqta.redisstore server start|status|stop

Settings come from the Scrapy project (``REDIS_URL``, ``LOOQTA_REDIS_*``); ``--data-dir`` and
``-s NAME=VALUE`` override them. Status lines never show the password.
Exit status: 0 done, 1 no server running (or ``REDIS_URL`` is set), 2 error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import redis
from scrapy.utils.project import get_project_settings

from looqta.redisstore.client import redact
from looqta.redisstore.config import RedisConfig, RedisConfigError
from looqta.redisstore.server import RedisServerError, ensure_server, running_server, stop_server


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m looqta.redisstore", description="looqta's embedded Redis"
    )
    parser.add_argument("--data-dir", type=Path, help="server directory (default: LOOQTA_REDIS_DATA_DIR)")
    parser.add_argument(
        "-s", "--set", metavar="NAME=VALUE", action="append", default=[], help="set a setting, as with scrapy"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    server = commands.add_parser("server", help="the embedded redis-server (REDIS_URL empty)")
    server.add_argument("action", choices=("status", "start", "stop"))
    args = parser.parse_args(argv)
    if any("=" not in pair for pair in args.set):
        parser.error("-s takes NAME=VALUE")
    return args


def load_config(args: argparse.Namespace) -> RedisConfig:
    settings = get_project_settings()
    settings.setdict(dict(pair.split("=", 1) for pair in args.set), priority="cmdline")
    if args.data_dir is not None:
        settings.set("LOOQTA_REDIS_DATA_DIR", args.data_dir, priority="cmdline")
    return RedisConfig.from_settings(settings)


def server(config: RedisConfig, action: str) -> int:
    if not config.embedded:
        print(f"REDIS_URL is set ({redact(config.url)}): looqta runs no Redis of its own.", file=sys.stderr)
        return 1
    if action == "start":
        state = ensure_server(config.data_dir, config.server_start_timeout_seconds)
    elif action == "stop":
        stopped = stop_server(config.data_dir)
        print(f"Stopped redis-server pid {stopped.pid}." if stopped else "No redis-server was running.")
        return 0
    else:
        found = running_server(config.data_dir)
        if found is None:
            print(f"No redis-server is running for {config.data_dir}.")
            return 1
        state = found
    print(f"running  pid {state.pid}  {redact(state.url)}  since {state.started_at}  data {config.data_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return server(load_config(args), args.action)
    except (RedisConfigError, RedisServerError, redis.RedisError) as error:
        print(f"looqta.redisstore: {error}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
