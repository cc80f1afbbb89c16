from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from mongo_fixtures import python_env, wait_for
from pymongo import MongoClient

from looqta.store.embedded import (
    EmbeddedServerError,
    answers,
    ensure_server,
    process_running,
    read_state,
    running_server,
    stop_server,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

ENSURE = "import sys; from pathlib import Path; from looqta.store.embedded import ensure_server; " + (
    "print(ensure_server(Path(sys.argv[1])).pid)"
)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """An embedded-server directory whose server, if a test started one, is stopped afterwards."""
    path = tmp_path / "mongo"
    yield path
    stop_server(path)


def test_a_server_is_started_once_then_reused_and_stopped(data_dir: Path) -> None:
    first = ensure_server(data_dir)
    assert first.host == "127.0.0.1"
    assert process_running(first.pid)
    assert answers(first.uri, 2.0)
    assert ensure_server(data_dir) == first  # reused, not restarted
    assert running_server(data_dir) == first
    assert Path(first.storage_path) == data_dir.resolve() / "db"

    assert stop_server(data_dir) == first
    assert not process_running(first.pid)
    assert not answers(first.uri, 0.5)
    assert read_state(data_dir) is None
    assert running_server(data_dir) is None
    assert stop_server(data_dir) is None  # stopping twice is fine


def test_two_processes_starting_at_once_share_one_server(data_dir: Path) -> None:
    starters = [
        subprocess.Popen(
            [sys.executable, "-c", ENSURE, str(data_dir)], stdout=subprocess.PIPE, text=True, env=python_env()
        )
        for _ in range(2)
    ]
    pids = [int(starter.communicate(timeout=60)[0]) for starter in starters]
    assert pids[0] == pids[1]
    state = running_server(data_dir)
    assert state is not None
    assert state.pid == pids[0]


def test_a_server_that_died_is_replaced(data_dir: Path) -> None:
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    data_dir.mkdir(parents=True)
    stale = {
        "pid": int(dead.stdout),
        "host": "127.0.0.1",
        "port": 1,
        "storage_path": "x",
        "started_at": "then",
    }
    (data_dir / "server.json").write_text(json.dumps(stale))
    state = ensure_server(data_dir)
    assert state.pid != stale["pid"]
    assert answers(state.uri, 2.0)


def test_a_server_that_cannot_start_says_why(tmp_path: Path) -> None:
    data_dir = tmp_path / "mongo"
    data_dir.mkdir()
    (data_dir / "db").write_text("a file where the storage directory should be")
    with pytest.raises(EmbeddedServerError, match=r"cannot start the store server .*server\.log"):
        ensure_server(data_dir, start_timeout=20)
    assert read_state(data_dir) is None


def test_a_server_without_clients_exits_after_its_idle_time(data_dir: Path) -> None:
    state = ensure_server(data_dir, idle_seconds=1.0)
    client: MongoClient[dict[str, object]] = MongoClient(state.uri, serverSelectionTimeoutMS=5000)
    try:
        client.admin.command("ping")
        connected_until = time.monotonic() + 3.0  # three idle periods with a client connected
        while time.monotonic() < connected_until:
            assert process_running(state.pid), "the server exited while a client was connected"
            time.sleep(0.1)
        assert client.admin.command("ping")["ok"] == 1
    finally:
        client.close()
    wait_for(lambda: not process_running(state.pid), timeout=15.0)  # idle 1 s, checked every 0.25 s
    assert read_state(data_dir) is None  # removed on the way out: the next crawl starts a new server
    assert "No client for 1 s: stopping" in (data_dir / "server.log").read_text()
    assert ensure_server(data_dir).pid != state.pid


def test_a_server_with_idle_time_0_keeps_running(data_dir: Path) -> None:
    state = ensure_server(data_dir, idle_seconds=0)
    assert "exits after never without a client" in (data_dir / "server.log").read_text()
    assert running_server(data_dir) == state
