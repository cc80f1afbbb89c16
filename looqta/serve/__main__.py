"""``python -m looqta.serve [--host 127.0.0.1] [--port 8080] [--sandbox] [--access-log] [-s NAME=VALUE]``."""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import logging
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import uvicorn
from scrapy.utils.project import get_project_settings

from looqta.redisstore.client import server_url
from looqta.serve.app import create_app
from looqta.serve.config import ServeConfig
from looqta.serve.sandboxed import sandboxed_crawlers

#: uvicorn's default listen backlog.
BACKLOG = 2048


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _exit(signum: int, frame: object) -> None:
    raise SystemExit(0)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m looqta.serve", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0: any free port")
    parser.add_argument("--allow-remote", action="store_true", help="serve on a non-loopback address")
    parser.add_argument(
        "--sandbox", action="store_true", help="start the sandbox and a warm crawler per site"
    )
    parser.add_argument(
        "--access-log",
        action="store_true",
        help="log every request (uvicorn's access log)",
    )
    parser.add_argument(
        "-s",
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting (crawlers get it too)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not is_loopback(args.host) and not args.allow_remote:
        print(f"refusing to serve on {args.host}: not loopback (add --allow-remote)", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    settings = get_project_settings()
    overrides = dict(pair.split("=", 1) for pair in args.set)
    settings.setdict(overrides, priority="cmdline")
    config = ServeConfig.from_settings(settings)
    # uvicorn raises the signal that stopped it again once it is done: exit through the stack below,
    # so the sandbox and the crawlers are stopped too.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _exit)
    with contextlib.ExitStack() as stack:
        if args.sandbox:
            url = server_url(config.redis)
            log_dir = Path(settings.get("LOOQTA_DATA_DIR")) / "serve"
            stack.enter_context(sandboxed_crawlers(config.sites, url, log_dir, overrides))
        sock = stack.enter_context(listening_socket(args.host, args.port))
        host = f"[{args.host}]" if sock.family == socket.AF_INET6 else args.host
        print(f"looqta search on http://{host}:{sock.getsockname()[1]}/", flush=True)
        app = create_app(config, allow_remote=args.allow_remote)
        server = uvicorn.Server(server_config(app, access_log=args.access_log))
        server.run(sockets=[sock])
    return 0


def server_config(app: Any, *, access_log: bool = False) -> uvicorn.Config:
    """uvicorn on uvloop and httptools (pinned in requirements.txt; asyncio's loop and h11 cost more
    CPU per request), without a log line per request unless asked (docs/BENCHMARKS.md)."""
    return uvicorn.Config(
        app,
        log_level="info",
        access_log=access_log,
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=5,
    )


def listening_socket(host: str, port: int) -> socket.socket:
    """The service's socket, bound. ``IPPROTO_TCP``, not 0: asyncio sets ``TCP_NODELAY`` only on
    sockets that say they are TCP; without it every answer on a kept-alive connection waited ~40 ms
    (Nagle and delayed ACKs; docs/BENCHMARKS.md, the search service)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    # Listening before the URL is printed: a client that connects at once waits in the backlog
    # instead of being refused while uvicorn (and uvloop) start.
    sock.listen(BACKLOG)
    return sock


if __name__ == "__main__":
    sys.exit(main())
