"""``python -m looqta.redisstore server start|status|stop``, run as a shopper's operator would."""

from __future__ import annotations

import subprocess
import sys
from typing import TYPE_CHECKING

from mongo_fixtures import python_env

from looqta.redisstore.server import read_state, stop_server

if TYPE_CHECKING:
    from pathlib import Path


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "looqta.redisstore", *args]
    return subprocess.run(
        command, capture_output=True, text=True, env=env or python_env(), timeout=60, check=False
    )


def test_start_status_stop_never_show_the_password(tmp_path: Path) -> None:
    data_dir = tmp_path / "redis"
    env = {**python_env(), "REDIS_URL": ""}
    try:
        started = cli("--data-dir", str(data_dir), "server", "start", env=env)
        status = cli("--data-dir", str(data_dir), "server", "status", env=env)
        state = read_state(data_dir)
        assert state is not None
        assert started.returncode == status.returncode == 0, started.stderr + status.stderr
        for result in (started, status):
            assert f"pid {state.pid}  redis://:***@127.0.0.1:{state.port}/0" in result.stdout
            assert state.password not in result.stdout + result.stderr

        stopped = cli("--data-dir", str(data_dir), "server", "stop", env=env)
        after = cli("--data-dir", str(data_dir), "server", "status", env=env)
    finally:
        stop_server(data_dir)

    assert (stopped.returncode, stopped.stdout.strip()) == (0, f"Stopped redis-server pid {state.pid}.")
    assert after.returncode == 1
    assert "No redis-server is running" in after.stdout


def test_with_redis_url_set_looqta_runs_no_server(tmp_path: Path) -> None:
    env = {**python_env(), "REDIS_URL": "redis://:hunter2@redis.internal:6379/0"}

    result = cli("--data-dir", str(tmp_path / "redis"), "server", "start", env=env)

    assert result.returncode == 1
    assert "REDIS_URL is set (redis://:***@redis.internal:6379/0)" in result.stderr
    assert "hunter2" not in result.stderr
    assert not (tmp_path / "redis").exists()
