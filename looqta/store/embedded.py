"""The one place that finds, starts and stops the embedded store server.

With ``MONGO_URI`` empty, looqta keeps its own MongoDB-wire server (SecantusDB)
under ``LOOQTA_STORE_DATA_DIR`` (default ``.looqta/mongo``)::

    server.lock   flock held while a process looks for, starts or stops the server
    server.json   {pid, host, port, storage_path, started_at}, written by the server once it listens
    server.log    the server's log
    db/           its storage

:func:`ensure_server` takes the lock, reuses the server named in ``server.json``
when that process is alive and answers a ping, and otherwise starts a detached
one (``python -m looqta.store.serve --detach``) on a free loopback port and waits
for it to answer. Two crawls starting at once therefore share one server, and
later crawls reuse it; ``python -m looqta.store server stop`` (:func:`stop_server`)
ends it. Every function here blocks: call them from a thread.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pymongo import MongoClient
from pymongo.errors import PyMongoError

import looqta
from looqta.store.serve import STATE_FILE

if TYPE_CHECKING:
    from collections.abc import Iterator

logger = logging.getLogger(__name__)

LOCK_FILE = "server.lock"
LOG_FILE = "server.log"
_SERVER_MODULE = "looqta.store.serve"
_POLL_SECONDS = 0.05
_LOG_TAIL_BYTES = 2000


class EmbeddedServerError(RuntimeError):
    """The embedded server cannot be started, reached or stopped; the message says what to do."""


@dataclass(frozen=True)
class ServerState:
    pid: int
    host: str
    port: int
    storage_path: str
    started_at: str

    @property
    def uri(self) -> str:
        return f"mongodb://{self.host}:{self.port}/?directConnection=true"


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
    )


def running_server(data_dir: Path, timeout: float = 2.0) -> ServerState | None:
    """The server of ``data_dir`` if its process runs and it answers a ping, else None."""
    state = read_state(data_dir)
    if state is not None and process_running(state.pid) and answers(state.uri, timeout):
        return state
    return None


def ensure_server(data_dir: Path, start_timeout: float = 30.0) -> ServerState:
    """Reuse the running embedded server of ``data_dir`` or start one; return where it listens."""
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
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
        return _start(data_dir, start_timeout)


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
            time.sleep(_POLL_SECONDS)
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
    return state not in ("Z", "X") and _SERVER_MODULE.encode() in cmdline


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


def _start(data_dir: Path, timeout: float) -> ServerState:
    log_path = data_dir / LOG_FILE
    package_root = str(Path(looqta.__file__).resolve().parents[1])
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])),
    }
    command = [sys.executable, "-m", _SERVER_MODULE, "--data-dir", str(data_dir), "--detach"]
    try:
        with log_path.open("ab") as log:
            launcher = subprocess.run(
                command,
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
            f"(LOOQTA_STORE_SERVER_START_TIMEOUT_SECONDS){_log_tail(log_path)}"
        ) from None
    if launcher.returncode != 0:
        raise EmbeddedServerError(
            f"cannot start the store server (exit {launcher.returncode}){_log_tail(log_path)}"
        )
    state = read_state(data_dir)
    if state is None or not answers(state.uri, timeout):
        raise EmbeddedServerError(f"the store server started but does not answer{_log_tail(log_path)}")
    logger.info("Started the store server pid %d on %s (data in %s)", state.pid, state.uri, data_dir)
    return state


def _log_tail(log_path: Path) -> str:
    try:
        with log_path.open("rb") as log:
            log.seek(max(0, log_path.stat().st_size - _LOG_TAIL_BYTES))
            tail = log.read().decode("utf-8", errors="replace").strip()
    except FileNotFoundError:
        return ""
    return f"; the end of {log_path}:\n{tail}" if tail else ""


@contextlib.contextmanager
def _exclusive(data_dir: Path, timeout: float) -> Iterator[None]:
    """Hold ``server.lock``: one process at a time looks for, starts or stops the server."""
    with (data_dir / LOCK_FILE).open("ab") as lock:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise EmbeddedServerError(
                        f"{data_dir / LOCK_FILE} stayed locked for {timeout:.0f} s by another looqta process"
                    ) from None
                time.sleep(_POLL_SECONDS)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
