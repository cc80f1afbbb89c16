"""The embedded store server's own process (started by :mod:`looqta.store.embedded` only).

``python -m looqta.store.serve --data-dir DIR [--port 0] [--detach]`` runs
SecantusDB on 127.0.0.1 with its storage in ``DIR/db``, then publishes
``DIR/server.json`` ({pid, host, port, ...}) once it accepts connections, and
removes it when stopped by SIGTERM or SIGINT. ``--detach`` forks into a new
session first, so the server outlives the crawl that started it and later
crawls reuse it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import FrameType

logger = logging.getLogger(__name__)

STATE_FILE = "server.json"
STORAGE_DIR = "db"
LOOPBACK = "127.0.0.1"
#: WiredTiger cache of the embedded server: a demo's working set is small.
CACHE_SIZE = "256M"
_POLL_SECONDS = 0.05


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m looqta.store.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0, help="0 (default): any free port")
    parser.add_argument("--detach", action="store_true", help="fork into a new session and return at once")
    return parser.parse_args(argv)


def write_state(data_dir: Path, port: int) -> None:
    state = {
        "pid": os.getpid(),
        "host": LOOPBACK,
        "port": port,
        "storage_path": str((data_dir / STORAGE_DIR).resolve()),
        "started_at": datetime.now(UTC).isoformat(),
    }
    path = data_dir / STATE_FILE
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(path)


def remove_state(data_dir: Path) -> None:
    path = data_dir / STATE_FILE
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except FileNotFoundError:
        return


def serve(data_dir: Path, port: int) -> int:
    from secantus import SecantusDBServer  # imported here: only this process needs it

    data_dir.mkdir(parents=True, exist_ok=True)
    server = SecantusDBServer(
        host=LOOPBACK,
        port=port,
        storage_path=str(data_dir / STORAGE_DIR),
        enable_test_commands=False,
        cache_size=CACHE_SIZE,
    )
    stopping = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    server.start()
    _host, bound_port = server.address
    write_state(data_dir, bound_port)
    logger.info(
        "looqta store server pid %d on %s:%d, data in %s", os.getpid(), LOOPBACK, bound_port, data_dir
    )
    try:
        stopping.wait()
    finally:
        remove_state(data_dir)  # first: no crawl may pick a server that is going away
        server.stop()
        logger.info("looqta store server pid %d stopped", os.getpid())
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.detach:
        child = os.fork()
        if child:
            return _await_child(args.data_dir, child)
        os.setsid()  # the server outlives the crawl that started it
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return serve(args.data_dir, args.port)


def _await_child(data_dir: Path, child: int) -> int:
    """In the launcher: 0 once the forked server has published its state, 1 if it died first."""
    while True:
        pid, _status = os.waitpid(child, os.WNOHANG)
        if pid:
            return 1  # the server's traceback is in its log
        with contextlib.suppress(FileNotFoundError):  # not published yet
            if json.loads((data_dir / STATE_FILE).read_text()).get("pid") == child:
                return 0
        time.sleep(_POLL_SECONDS)


if __name__ == "__main__":
    sys.exit(main())
