"""The embedded Redis: Debian's ``redis-server`` on 127.0.0.1, kept under ``LOOQTA_REDIS_DATA_DIR``.

With ``REDIS_URL`` empty, looqta keeps one server per data directory: :func:`ensure_server` reuses it
or starts one (``daemonize``: it outlives the crawl that started it). A password (0600, never on a
command line), loopback only, the append-only file for persistence. docs/redis.md. Every function
here blocks: call it from a thread in async code.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import redis

from looqta.datadir import PRIVATE_UMASK, private_dir
from looqta.localserver import POLL_SECONDS, exclusive, log_tail
from looqta.store.secret import read_password, server_password

logger = logging.getLogger(__name__)

STATE_FILE = "server.json"
CONFIG_FILE = "redis.conf"
PID_FILE = "redis.pid"
LOG_FILE = "server.log"
LOOPBACK = "127.0.0.1"
REDIS_SERVER = "redis-server"
#: Persistence (docs/redis.md): every write goes to the append-only file before Redis answers it;
#: the file is fsynced once a second, so only a machine crash (not a Redis crash) loses <= 1 s.
APPEND_ONLY = "yes"
APPEND_FSYNC = "everysec"
#: A free port is picked, then bound by redis-server: another process may take it in between.
_PORT_ATTEMPTS = 3
_PORT_TAKEN = "Address already in use"


class RedisServerError(RuntimeError):
    """The embedded Redis cannot be started, reached or stopped; the message says what to do."""


@dataclass(frozen=True)
class ServerState:
    """What ``server.json`` holds, and the password from ``server.secret`` (never in server.json)."""

    pid: int
    host: str
    port: int
    started_at: str
    password: str = ""

    @property
    def url(self) -> str:
        credentials = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{credentials}{self.host}:{self.port}/0"


def read_state(data_dir: Path) -> ServerState | None:
    """What ``server.json`` says, whether or not that server still runs."""
    try:
        raw = json.loads((data_dir / STATE_FILE).read_text())
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as error:
        raise RedisServerError(f"{data_dir / STATE_FILE} is not valid JSON ({error}); delete it") from None
    return ServerState(
        pid=int(raw["pid"]),
        host=str(raw["host"]),
        port=int(raw["port"]),
        started_at=str(raw["started_at"]),
        password=read_password(data_dir),
    )


def running_server(data_dir: Path, timeout: float = 2.0) -> ServerState | None:
    """The server of ``data_dir`` if its process runs and it answers a PING, else None."""
    state = read_state(data_dir.resolve())
    if state is not None and process_running(state.pid, state.port) and answers(state.url, timeout):
        return state
    return None


def ensure_server(data_dir: Path, timeout: float = 10.0) -> ServerState:
    """Reuse the Redis of ``data_dir`` or start one; a server that died is started again on its files."""
    data_dir = private_dir(data_dir.resolve())
    with exclusive(data_dir, timeout, RedisServerError):
        state = read_state(data_dir)
        if state is not None:
            if process_running(state.pid, state.port):
                if answers(state.url, min(timeout, 5.0)):
                    logger.debug("Reusing redis-server pid %d on port %d", state.pid, state.port)
                    return state
                raise RedisServerError(
                    f"redis-server (pid {state.pid}, port {state.port}) runs but does not answer; "
                    f"stop it with `python -m looqta.redisstore server stop` and try again"
                )
            logger.info("Removing the state of a redis-server that is gone (pid %d)", state.pid)
            (data_dir / STATE_FILE).unlink(missing_ok=True)
        _refuse_an_unknown_server(data_dir)
        return _start(data_dir, timeout)


def stop_server(data_dir: Path, timeout: float = 30.0) -> ServerState | None:
    """Stop the Redis of ``data_dir`` (SIGTERM: it syncs its files); its state, or None if none ran."""
    data_dir = data_dir.resolve()
    if not data_dir.is_dir():
        return None
    with exclusive(data_dir, timeout, RedisServerError):
        state = read_state(data_dir)
        if state is None:
            return None
        if not process_running(state.pid, state.port):
            (data_dir / STATE_FILE).unlink(missing_ok=True)
            return None
        os.kill(state.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while process_running(state.pid, state.port):
            if time.monotonic() > deadline:
                raise RedisServerError(f"redis-server pid {state.pid} did not stop within {timeout:.0f} s")
            time.sleep(POLL_SECONDS)
        (data_dir / STATE_FILE).unlink(missing_ok=True)  # only now: it names the server while it runs
        logger.info("Stopped redis-server pid %d", state.pid)
        return state


def process_running(pid: int, port: int | None = None) -> bool:
    """True if ``pid`` is a live (not zombie) redis-server, listening on ``port`` if given (its title)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    on_port = port is None or f":{port}".encode() in cmdline
    return state not in ("Z", "X") and REDIS_SERVER.encode() in cmdline and on_port


def answers(url: str, timeout: float) -> bool:
    """True if the server at ``url`` answers PING (not while it is still loading its files)."""
    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        return bool(client.ping())
    except redis.RedisError as error:
        logger.debug("No answer from redis on %s: %s", url.rsplit("@", 1)[-1], error)
        return False
    finally:
        client.close()


def server_config(data_dir: Path, port: int, password: str) -> str:
    """The ``redis.conf`` looqta writes (0600: it holds the password) at each start."""
    lines = [
        "# Written by looqta at each start (looqta/redisstore/server.py); edits are lost. docs/redis.md",
        f"bind {LOOPBACK}",
        f"port {port}",
        "protected-mode yes",
        f"requirepass {_quoted(password)}",
        "daemonize yes",
        f"pidfile {_quoted(str(data_dir / PID_FILE))}",
        f"logfile {_quoted(str(data_dir / LOG_FILE))}",
        f"dir {_quoted(str(data_dir))}",
        f"appendonly {APPEND_ONLY}",
        f"appendfsync {APPEND_FSYNC}",
        'save ""',  # one persistence mechanism: the append-only file
    ]
    return "\n".join(lines) + "\n"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _refuse_an_unknown_server(data_dir: Path) -> None:
    """A second server must never share the append-only files of one that runs without ``server.json``."""
    with contextlib.suppress(FileNotFoundError, ValueError):
        pid = int((data_dir / PID_FILE).read_text().strip())
        if process_running(pid):
            raise RedisServerError(
                f"redis-server pid {pid} runs on {data_dir} but {STATE_FILE} is gone; "
                f"stop it (kill {pid}) and try again"
            )


def _start(data_dir: Path, timeout: float) -> ServerState:
    binary = shutil.which(REDIS_SERVER)
    if binary is None:
        raise RedisServerError(
            f"{REDIS_SERVER} is not installed: run deploy/bootstrap.sh as root "
            f"(apt-get install redis-server), or set REDIS_URL"
        )
    password = server_password(data_dir)
    deadline = time.monotonic() + timeout
    for _attempt in range(_PORT_ATTEMPTS):
        port = free_port()
        _write_private(data_dir / CONFIG_FILE, server_config(data_dir, port, password))
        (data_dir / PID_FILE).unlink(missing_ok=True)
        log_path = data_dir / LOG_FILE
        log_offset = log_path.stat().st_size if log_path.exists() else 0
        with os.fdopen(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as log:
            launcher = subprocess.run(
                [binary, str(data_dir / CONFIG_FILE)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                umask=PRIVATE_UMASK,  # the append-only files and the log: owner-only
                timeout=timeout,
                check=False,
            )
        if launcher.returncode != 0:
            raise RedisServerError(
                f"cannot start redis-server (exit {launcher.returncode}){log_tail(log_path)}"
            )
        state = _await_ready(data_dir, port, password, log_offset, deadline)
        if state is not None:
            _write_state(data_dir, state)
            logger.info(
                "Started redis-server pid %d on %s:%d (data in %s)", state.pid, LOOPBACK, port, data_dir
            )
            return state
        logger.info("Port %d was taken before redis-server bound it; trying another", port)
    raise RedisServerError(f"redis-server found no free port in {_PORT_ATTEMPTS} attempts")


def _await_ready(
    data_dir: Path, port: int, password: str, log_offset: int, deadline: float
) -> ServerState | None:
    """The started server once it answers PING; None if its port was taken; raises after ``deadline``."""
    log_path = data_dir / LOG_FILE
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError, ValueError):
            pid = int((data_dir / PID_FILE).read_text().strip())
            state = ServerState(pid, LOOPBACK, port, datetime.now(UTC).isoformat(), password)
            if process_running(pid, port) and answers(state.url, 1.0):
                return state
        with log_path.open("rb") as log:
            log.seek(log_offset)
            if _PORT_TAKEN.encode() in log.read():
                return None
        time.sleep(POLL_SECONDS)
    raise RedisServerError(
        "redis-server did not answer in time (LOOQTA_REDIS_SERVER_START_TIMEOUT_SECONDS)" + log_tail(log_path)
    )


def _write_private(path: Path, text: str) -> None:
    """Write ``path`` 0600, atomically (a reader never sees half a file)."""
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    tmp.replace(path)


def _write_state(data_dir: Path, state: ServerState) -> None:
    raw = {"pid": state.pid, "host": state.host, "port": state.port, "started_at": state.started_at}
    _write_private(data_dir / STATE_FILE, json.dumps(raw))
