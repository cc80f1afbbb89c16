"""The embedded store server (SecantusDB on 127.0.0.1): find, start and stop it, and its own process.

With ``MONGO_URI`` empty, looqta keeps one server per ``LOOQTA_STORE_DATA_DIR``: :func:`ensure_server`
reuses it or starts a detached one, which exits after ``LOOQTA_STORE_SERVER_IDLE_SECONDS`` without a
client. Files, locking and life cycle: docs/store.md. Every function here blocks: call it from a thread.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

from pymongo import MongoClient
from pymongo.errors import PyMongoError

import looqta
from looqta.datadir import private_dir, private_process
from looqta.localserver import LOCK_FILE, POLL_SECONDS, exclusive, log_tail, try_lock
from looqta.store.config import StoreConfig
from looqta.store.secret import client_uri, read_password, require_auth

if TYPE_CHECKING:
    from collections.abc import Iterator, Sized
    from types import FrameType

logger = logging.getLogger(__name__)

STATE_FILE = "server.json"
LOG_FILE = "server.log"
STORAGE_DIR = "db"
LOOPBACK = "127.0.0.1"
#: WiredTiger cache of the embedded server: a demo's working set is small.
CACHE_SIZE = "256M"
_SERVER_MODULE = "looqta.store.embedded"
#: Command lines that mark a process as an embedded server (the second: servers started before the merge).
_SERVER_MARKERS = (_SERVER_MODULE.encode(), b"looqta.store.serve")
IDLE_SECONDS = StoreConfig.server_idle_seconds


class EmbeddedServerError(RuntimeError):
    """The embedded server cannot be started, reached or stopped; the message says what to do."""


@dataclass(frozen=True)
class ServerState:
    """What ``server.json`` holds: where the server listens, written by the server once it does."""

    pid: int
    host: str
    port: int
    storage_path: str
    started_at: str
    password: str = ""  #: from server.secret (looqta/store/secret.py), never from server.json

    @property
    def uri(self) -> str:
        return client_uri(self.host, self.port, self.password)


def read_state(data_dir: Path) -> ServerState | None:
    """What ``server.json`` says, whether or not that server still runs."""
    try:
        raw = json.loads((data_dir / STATE_FILE).read_text())
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as error:
        raise EmbeddedServerError(f"{data_dir / STATE_FILE} is not valid JSON ({error}); delete it") from None
    return ServerState(
        pid=int(raw["pid"]),
        host=str(raw["host"]),
        port=int(raw["port"]),
        storage_path=str(raw["storage_path"]),
        started_at=str(raw["started_at"]),
        password=read_password(data_dir),
    )


def running_server(data_dir: Path, timeout: float = 2.0) -> ServerState | None:
    """The server of ``data_dir`` if its process runs and it answers a ping, else None."""
    state = read_state(data_dir)
    if state is not None and process_running(state.pid) and answers(state.uri, timeout):
        return state
    return None


def ensure_server(
    data_dir: Path, start_timeout: float = 30.0, idle_seconds: float = IDLE_SECONDS
) -> ServerState:
    """Reuse the server of ``data_dir`` or start one (it exits after ``idle_seconds`` without a client)."""
    data_dir = private_dir(data_dir.resolve())
    with _exclusive(data_dir, start_timeout):
        state = read_state(data_dir)
        if state is not None:
            if process_running(state.pid):
                if answers(state.uri, min(start_timeout, 5.0)):
                    logger.debug("Reusing the store server pid %d on port %d", state.pid, state.port)
                    return state
                raise EmbeddedServerError(
                    f"the store server (pid {state.pid}, port {state.port}) runs but does not answer; "
                    f"stop it with `python -m looqta.store server stop` and try again"
                )
            logger.info("Removing the state of a store server that is gone (pid %d)", state.pid)
            (data_dir / STATE_FILE).unlink(missing_ok=True)
        return _start(data_dir, start_timeout, idle_seconds)


def stop_server(data_dir: Path, timeout: float = 30.0) -> ServerState | None:
    """Stop the embedded server of ``data_dir``; the stopped server's state, or None if none ran."""
    data_dir = data_dir.resolve()
    if not data_dir.is_dir():
        return None
    with _exclusive(data_dir, timeout):
        state = read_state(data_dir)
        if state is None:
            return None
        if not process_running(state.pid):
            (data_dir / STATE_FILE).unlink(missing_ok=True)
            return None
        os.kill(state.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while process_running(state.pid):
            if time.monotonic() > deadline:
                raise EmbeddedServerError(
                    f"the store server pid {state.pid} did not stop within {timeout:.0f} s"
                )
            time.sleep(POLL_SECONDS)
        (data_dir / STATE_FILE).unlink(missing_ok=True)
        logger.info("Stopped the store server pid %d", state.pid)
        return state


def process_running(pid: int) -> bool:
    """True if ``pid`` is a live (not zombie) embedded-server process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X") and any(marker in cmdline for marker in _SERVER_MARKERS)


def answers(uri: str, timeout: float) -> bool:
    client: MongoClient[dict[str, object]] = MongoClient(
        uri, serverSelectionTimeoutMS=int(timeout * 1000), connectTimeoutMS=int(timeout * 1000)
    )
    try:
        client.admin.command("ping")
    except PyMongoError as error:
        logger.debug("No answer from %s: %s", uri, error)
        return False
    finally:
        client.close()
    return True


def _server_command(data_dir: Path, port: int, idle_seconds: float) -> tuple[list[str], dict[str, str]]:
    """``python -m looqta.store.embedded ...`` and an environment in which it imports this looqta."""
    package_root = str(Path(looqta.__file__).resolve().parents[1])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
    }
    command = [sys.executable, "-m", _SERVER_MODULE, "--data-dir", str(data_dir), "--port", str(port)]
    return [*command, "--idle-seconds", str(idle_seconds)], env


def _start(data_dir: Path, timeout: float, idle_seconds: float) -> ServerState:
    log_path = data_dir / LOG_FILE
    log_path.touch(mode=0o600)
    command, env = _server_command(data_dir, 0, idle_seconds)
    try:
        with log_path.open("ab") as log:
            launcher = subprocess.run(
                [*command, "--detach"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                timeout=timeout,
                check=False,
            )
    except subprocess.TimeoutExpired:
        raise EmbeddedServerError(
            f"the store server did not start within {timeout:.0f} s "
            f"(LOOQTA_STORE_SERVER_START_TIMEOUT_SECONDS){log_tail(log_path)}"
        ) from None
    if launcher.returncode != 0:
        raise EmbeddedServerError(
            f"cannot start the store server (exit {launcher.returncode}){log_tail(log_path)}"
        )
    state = read_state(data_dir)
    if state is None or not answers(state.uri, timeout):
        raise EmbeddedServerError(f"the store server started but does not answer{log_tail(log_path)}")
    logger.info("Started the store server pid %d on port %d (data in %s)", state.pid, state.port, data_dir)
    return state


@contextlib.contextmanager
def _exclusive(data_dir: Path, timeout: float) -> Iterator[None]:
    """Hold ``server.lock``: one process at a time looks for, starts or stops the server."""
    with exclusive(data_dir, timeout, EmbeddedServerError):
        os.utime(data_dir / LOCK_FILE)  # tells an idle server that someone is about to use it
        yield


class ForegroundServerError(RuntimeError):
    """The server exited or did not publish its port in time."""


class ForegroundServer:
    """A server process its owner stops and restarts (a store outage), on the same port; never idles out."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "foreground-server.log"

    @property
    def uri(self) -> str:
        return client_uri(LOOPBACK, self.port, read_password(self.data_dir))

    def start(self, timeout: float = 30.0) -> ForegroundServer:
        state_file = self.data_dir / STATE_FILE
        state_file.unlink(missing_ok=True)
        private_dir(self.data_dir)
        command, env = _server_command(self.data_dir, self.port, idle_seconds=0)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=log, env=env)
        deadline = time.monotonic() + timeout
        while not state_file.exists():
            if self.process.poll() is not None:
                raise ForegroundServerError(f"the store server exited; see {self.log_path}")
            if time.monotonic() > deadline:
                raise ForegroundServerError(f"the store server did not start within {timeout:.0f} s")
            time.sleep(POLL_SECONDS)
        self.port = int(json.loads(state_file.read_text())["port"])
        return self

    def stop(self, timeout: float = 30.0) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=timeout)
        self.process = None


def serve(data_dir: Path, port: int, idle_seconds: float) -> int:
    """Run SecantusDB until SIGTERM / SIGINT, or until ``idle_seconds`` pass without a client (0: never)."""
    from secantus import SecantusDBServer  # imported here: only the server process needs it

    (private_process(data_dir) / LOCK_FILE).touch()  # umask 077: storage, state, log owner-only
    server = SecantusDBServer(
        host=LOOPBACK,
        port=port,
        storage_path=str(data_dir / STORAGE_DIR),
        enable_test_commands=False,
        cache_size=CACHE_SIZE,
        require_auth=True,
    )
    require_auth(server, data_dir)
    stopping = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    server.start()
    _write_state(data_dir, server.address[1])
    idle = f"{idle_seconds:g} s" if idle_seconds else "never"
    logger.info(
        "looqta store server pid %d on %s:%d, data in %s, exits after %s without a client",
        os.getpid(), LOOPBACK, server.address[1], data_dir, idle,
    )  # fmt: skip
    lock: IO[bytes] | None = None
    try:
        lock = _wait(server.connections, stopping, data_dir, idle_seconds)
    finally:
        _remove_state(data_dir)  # first: no crawl may pick a server that is going away
        server.stop()
        if lock is not None:
            lock.close()  # only now may the next crawl start a server on this storage
        logger.info("looqta store server pid %d stopped", os.getpid())
    return 0


def _wait(connections: Sized, stop: threading.Event, data_dir: Path, idle_seconds: float) -> IO[bytes] | None:
    """Block until a signal (None) or ``idle_seconds`` without a client (the held ``server.lock``)."""
    if idle_seconds <= 0:
        stop.wait()
        return None
    idle_since = time.time()
    while not stop.wait(min(1.0, idle_seconds / 4)):
        # A process that has just found this server under the lock (which touches it) will connect.
        idle_since = max(idle_since, (data_dir / LOCK_FILE).stat().st_mtime)
        if len(connections):
            idle_since = time.time()
        elif time.time() - idle_since >= idle_seconds and (lock := try_lock(data_dir)) is not None:
            if not len(connections):
                logger.info("No client for %.0f s: stopping (LOOQTA_STORE_SERVER_IDLE_SECONDS)", idle_seconds)
                return lock
            lock.close()
    return None


def _write_state(data_dir: Path, port: int) -> None:
    storage, started_at = str((data_dir / STORAGE_DIR).resolve()), datetime.now(UTC).isoformat()
    state = {
        "pid": os.getpid(),
        "host": LOOPBACK,
        "port": port,
        "storage_path": storage,
        "started_at": started_at,
    }
    tmp = (data_dir / STATE_FILE).with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(state))
    tmp.replace(data_dir / STATE_FILE)


def _remove_state(data_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if json.loads((data_dir / STATE_FILE).read_text()).get("pid") == os.getpid():
            (data_dir / STATE_FILE).unlink()


def _await_child(data_dir: Path, child: int) -> int:
    """In the launcher: 0 once the forked server has published its state, 1 if it died first."""
    while True:
        pid, _status = os.waitpid(child, os.WNOHANG)
        if pid:
            return 1  # the server's traceback is in its log
        with contextlib.suppress(FileNotFoundError):  # not published yet
            if json.loads((data_dir / STATE_FILE).read_text()).get("pid") == child:
                return 0
        time.sleep(POLL_SECONDS)


def main(argv: list[str] | None = None) -> int:
    """``python -m looqta.store.embedded --data-dir DIR [--port 0] [--idle-seconds S] [--detach]``."""
    parser = argparse.ArgumentParser(prog=f"python -m {_SERVER_MODULE}", description="embedded store server")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0, help="0 (default): any free port")
    parser.add_argument("--idle-seconds", type=float, default=0.0, help="exit after S s without a client")
    parser.add_argument("--detach", action="store_true", help="fork into a new session and return at once")
    args = parser.parse_args(argv)
    if args.detach:
        child = os.fork()
        if child:
            return _await_child(args.data_dir, child)
        os.setsid()  # the server outlives the crawl that started it
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return serve(args.data_dir, args.port, args.idle_seconds)


if __name__ == "__main__":
    sys.exit(main())
