"""``python -m looqta.store.serve`` in the foreground, for whoever must stop and restart it.

The embedded default (:mod:`looqta.store.embedded`) detaches its server so later crawls reuse
it; tests and the store benchmark instead need a server they own, to stop mid-run (a store
outage) and start again on the same port.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from looqta.store.serve import STATE_FILE

PROJECT_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 30.0
_POLL_SECONDS = 0.02


class ForegroundServerError(RuntimeError):
    """The server exited or did not publish its port in time."""


class ForegroundServer:
    """One server process on 127.0.0.1; ``port`` 0 until the first start, then kept across restarts."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "foreground-server.log"

    def start(self, timeout: float = START_TIMEOUT_SECONDS) -> ForegroundServer:
        state_file = self.data_dir / STATE_FILE
        state_file.unlink(missing_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        paths = [str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in paths if path)}
        command = [sys.executable, "-m", "looqta.store.serve", "--data-dir", str(self.data_dir)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, "--port", str(self.port)], stdout=log, stderr=log, env=env
            )
        deadline = time.monotonic() + timeout
        while not state_file.exists():
            if self.process.poll() is not None:
                raise ForegroundServerError(f"the store server exited; see {self.log_path}")
            if time.monotonic() > deadline:
                raise ForegroundServerError(f"the store server did not start within {timeout:.0f} s")
            time.sleep(_POLL_SECONDS)
        self.port = int(json.loads(state_file.read_text())["port"])
        return self

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=timeout)
        self.process = None
