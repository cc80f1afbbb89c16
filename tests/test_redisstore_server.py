"""The embedded Redis (looqta/redisstore/server.py): a real redis-server in a temporary directory."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from typing import TYPE_CHECKING

import psutil
import pytest
import redis
from mongo_fixtures import python_env, wait_for

from looqta.redisstore import server
from looqta.redisstore.server import (
    LOOPBACK,
    STATE_FILE,
    answers,
    ensure_server,
    process_running,
    read_state,
    running_server,
    stop_server,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

ENSURE_IN_A_PROCESS = (
    "import sys; from pathlib import Path; from looqta.redisstore.server import ensure_server; "
    "state = ensure_server(Path(sys.argv[1])); print(state.pid, state.port)"
)


@pytest.fixture(name="data_dir")
def data_dir_fixture(tmp_path: Path) -> Iterator[Path]:
    """A data directory for this test's own server, stopped afterwards."""
    directory = tmp_path / "redis"
    yield directory
    stop_server(directory)


def kill(pid: int, port: int) -> None:
    """Kill the server as a crash would: no shutdown, no final sync."""
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not process_running(pid, port))


def written_to_the_file(client: redis.Redis) -> bool:
    """True once Redis has written (``write(2)``) every acknowledged command to its append-only file.

    With ``appendfsync everysec`` that is before the reply, unless a slow background fsync made
    Redis postpone the write (up to 2 s); a crash of Redis alone then loses nothing. docs/redis.md."""
    return client.info("persistence").get("aof_buffer_length", 0) == 0


def test_ensure_server_starts_once_and_is_reused(data_dir: Path) -> None:
    first = ensure_server(data_dir)
    second = ensure_server(data_dir)

    assert (second.pid, second.port, second.url) == (first.pid, first.port, first.url)
    assert process_running(first.pid, first.port)
    assert answers(first.url, 2.0)
    assert running_server(data_dir) == first


def test_another_process_reuses_the_server(data_dir: Path) -> None:
    """Two processes asking at once, with no server yet, get one server; this process then reuses it."""
    command = [sys.executable, "-c", ENSURE_IN_A_PROCESS, str(data_dir)]
    children = [
        subprocess.Popen(command, stdout=subprocess.PIPE, env=python_env(), text=True) for _ in range(2)
    ]
    outputs = {child.communicate(timeout=60)[0].strip() for child in children}

    assert [child.returncode for child in children] == [0, 0]
    state = ensure_server(data_dir)
    assert outputs == {f"{state.pid} {state.port}"}


def test_a_dead_server_is_started_again(data_dir: Path) -> None:
    dead = ensure_server(data_dir)
    kill(dead.pid, dead.port)
    assert running_server(data_dir) is None

    alive = ensure_server(data_dir)

    assert alive.pid != dead.pid
    assert answers(alive.url, 2.0)


@pytest.mark.parametrize("how", ["stopped", "killed"])
def test_queued_work_survives_a_restart(data_dir: Path, how: str) -> None:
    """Written, then the server stopped (SIGTERM) or killed (SIGKILL): the next one has it all."""
    before = ensure_server(data_dir)
    with redis.Redis.from_url(before.url, decode_responses=True) as client:
        client.rpush("searches:manual", "iphone 15", "galaxy s24")
        client.hset("search:1", mapping={"query": "iphone 15", "state": "queued"})
        wait_for(lambda: written_to_the_file(client))
    if how == "stopped":
        stop_server(data_dir)
    else:
        kill(before.pid, before.port)

    after = ensure_server(data_dir)

    assert after.pid != before.pid
    with redis.Redis.from_url(after.url, decode_responses=True) as client:
        assert client.lrange("searches:manual", 0, -1) == ["iphone 15", "galaxy s24"]
        assert client.hgetall("search:1") == {"query": "iphone 15", "state": "queued"}


def test_a_client_without_the_password_is_refused(data_dir: Path) -> None:
    state = ensure_server(data_dir)

    for password in (None, "not-the-password"):
        with (
            redis.Redis(host=LOOPBACK, port=state.port, password=password) as client,
            pytest.raises(redis.AuthenticationError),
        ):
            client.set("key", "value")
    with redis.Redis.from_url(state.url) as client:
        assert client.ping()


def test_the_server_listens_on_loopback_only(data_dir: Path) -> None:
    state = ensure_server(data_dir)
    process = psutil.Process(state.pid)

    listening = [c for c in process.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    unix_sockets = process.net_connections(kind="unix")

    assert [(c.laddr.ip, c.laddr.port) for c in listening] == [(LOOPBACK, state.port)]
    assert unix_sockets == []


def test_the_password_is_never_on_a_command_line(data_dir: Path) -> None:
    state = ensure_server(data_dir)

    assert state.password
    assert state.password not in " ".join(psutil.Process(state.pid).cmdline())
    assert state.password not in (data_dir / STATE_FILE).read_text()


def test_the_data_dir_and_its_files_are_private(data_dir: Path) -> None:
    """Under a permissive umask too: the server's own files (append-only, log, pid) are owner-only."""
    previous = os.umask(0o022)
    try:
        state = ensure_server(data_dir)
        with redis.Redis.from_url(state.url) as client:
            client.set("key", "value")
    finally:
        os.umask(previous)

    modes = {path.name: stat.S_IMODE(path.stat().st_mode) for path in [data_dir, *data_dir.rglob("*")]}

    assert {"server.secret", "redis.conf", "server.log", "appendonlydir"} <= modes.keys()
    assert {name: mode for name, mode in modes.items() if mode not in (0o600, 0o700)} == {}
    assert modes[data_dir.name] == modes["appendonlydir"] == 0o700


def test_stop_server(data_dir: Path) -> None:
    assert stop_server(data_dir) is None  # nothing ever ran there
    state = ensure_server(data_dir)

    assert stop_server(data_dir) == state

    assert not process_running(state.pid, state.port)
    assert read_state(data_dir) is None
    assert stop_server(data_dir) is None


def test_a_missing_binary_says_how_to_install_it(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server.shutil, "which", lambda name: None)

    with pytest.raises(server.RedisServerError, match=r"deploy/bootstrap\.sh"):
        ensure_server(data_dir)


def test_a_server_running_without_its_state_is_never_doubled(data_dir: Path) -> None:
    """Two servers on one append-only file would corrupt it: looqta refuses and says which pid to stop."""
    state = ensure_server(data_dir)
    (data_dir / STATE_FILE).unlink()

    with pytest.raises(server.RedisServerError, match=rf"redis-server pid {state.pid} runs on"):
        ensure_server(data_dir)

    os.kill(state.pid, signal.SIGTERM)
    wait_for(lambda: not process_running(state.pid))
    assert ensure_server(data_dir).pid != state.pid
