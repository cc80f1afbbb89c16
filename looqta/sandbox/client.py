"""A small synchronous handle on a sandbox subprocess, for tests, demos and benchmarks.

    with SandboxProcess() as sandbox:
        sandbox.set_faults("amazon", status=429, retry_after=2, times=3)
        ...crawl sandbox.url("amazon")...
        assert sandbox.requests("amazon")

Control calls use ``urllib`` with proxies disabled, and only ever reach the sandbox's own URLs.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import selectors
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import TracebackType

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_START_TIMEOUT_SECONDS = 20.0
DEFAULT_STOP_TIMEOUT_SECONDS = 5.0
CONTROL_TIMEOUT_SECONDS = 10.0

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class SandboxError(RuntimeError):
    pass


class SandboxProcess:
    """Start ``python -m looqta.sandbox --port 0 --json`` and talk to its control routes."""

    def __init__(
        self,
        *,
        sites: tuple[str, ...] | None = None,
        products: int | None = None,
        seed: int | None = None,
        pdf_pages: int | None = None,
        extra_args: tuple[str, ...] = (),
        start_timeout_seconds: float = DEFAULT_START_TIMEOUT_SECONDS,
    ) -> None:
        self.args = [sys.executable, "-m", "looqta.sandbox", "--port", "0", "--json"]
        if sites is not None:
            self.args += ["--sites", ",".join(sites)]
        for flag, value in (("--products", products), ("--seed", seed), ("--pdf-pages", pdf_pages)):
            if value is not None:
                self.args += [flag, str(value)]
        self.args += list(extra_args)
        self.start_timeout_seconds = start_timeout_seconds
        self.urls: dict[str, str] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None

    # lifecycle -------------------------------------------------------------------------------

    def start(self) -> SandboxProcess:
        if self._process is not None:
            raise SandboxError("sandbox already started")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
        # open for the process lifetime, closed in stop()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self._process = subprocess.Popen(
            self.args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            cwd=PROJECT_ROOT,
        )
        try:
            line = self._read_first_line(self.start_timeout_seconds)
            self.urls = _checked_urls(json.loads(line))
        except (SandboxError, ValueError) as exc:
            stderr = self._stderr_text()
            self.stop()
            raise SandboxError(f"sandbox did not start: {exc}\n--- stderr ---\n{stderr}") from exc
        logger.info("sandbox started (pid %s): %s", self._process.pid, self.urls)
        return self

    def stop(self, timeout_seconds: float = DEFAULT_STOP_TIMEOUT_SECONDS) -> None:
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout_seconds)
                except subprocess.TimeoutExpired:
                    logger.warning("sandbox pid %s ignored SIGTERM; killing", process.pid)
                    process.kill()
                    process.wait(timeout_seconds)
            if process.stdout is not None:
                process.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    # URLs and control ------------------------------------------------------------------------

    def url(self, site: str, path: str = "") -> str:
        try:
            base = self.urls[site]
        except KeyError:
            raise SandboxError(f"site {site!r} is not served; have {sorted(self.urls)}") from None
        return base + path

    def set_faults(self, site: str, **faults: Any) -> dict[str, Any]:
        """Replace ``site``'s faults, e.g. ``set_faults("noon", status=503, times=2)``."""
        return self._control("POST", site, "/__sandbox__/faults", faults)

    def faults(self, site: str) -> dict[str, Any]:
        return self._control("GET", site, "/__sandbox__/faults")

    def clear_faults(self, site: str | None = None) -> None:
        for name in self._sites(site):
            self._control("DELETE", name, "/__sandbox__/faults")

    def set_price(self, site: str, source_id: str, price: str) -> dict[str, Any]:
        """Change one product's price on ``site``; the next page of it shows the new price."""
        return self._control("POST", site, "/__sandbox__/prices", {"source_id": source_id, "price": price})

    def reprice(self, site: str, share: float, step_percent: float, seed: int = 0) -> dict[str, Any]:
        """Move ``share`` of ``site``'s products up or down by ``step_percent`` (which and which
        way fixed by ``seed``); returns ``{"changed": {source_id: {"old", "price"}}}``."""
        payload = {"share": share, "step_percent": step_percent, "seed": seed}
        return self._control("POST", site, "/__sandbox__/prices", payload)

    def prices(self, site: str) -> dict[str, Any]:
        """The products whose price changed: ``{source_id: {"original", "price"}}``."""
        return self._control("GET", site, "/__sandbox__/prices")

    def reset_prices(self, site: str) -> None:
        self._control("DELETE", site, "/__sandbox__/prices")

    def requests(self, site: str) -> list[dict[str, Any]]:
        return self._control("GET", site, "/__sandbox__/requests")

    def clear_requests(self, site: str | None = None) -> None:
        for name in self._sites(site):
            self._control("DELETE", name, "/__sandbox__/requests")

    # internals -------------------------------------------------------------------------------

    def _sites(self, site: str | None) -> list[str]:
        return list(self.urls) if site is None else [site]

    def _control(self, method: str, site: str, path: str, payload: Any = None) -> Any:
        data = None if payload is None else json.dumps(payload).encode()
        url = self.url(site, path)  # always one of our checked loopback http:// URLs
        headers = {"Content-Type": "application/json"}
        request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
        try:
            with _OPENER.open(request, timeout=CONTROL_TIMEOUT_SECONDS) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            raise SandboxError(f"{method} {path} on {site} failed: {exc.code} {detail}") from exc

    def _read_first_line(self, timeout_seconds: float) -> str:
        assert self._process is not None
        assert self._process.stdout is not None
        stream = self._process.stdout
        deadline = time.monotonic() + timeout_seconds
        buffer = b""
        with selectors.DefaultSelector() as selector:
            selector.register(stream, selectors.EVENT_READ)
            while b"\n" not in buffer:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise SandboxError(f"no URL line within {timeout_seconds:.1f}s")
                if not selector.select(remaining):
                    continue
                chunk = os.read(stream.fileno(), 4096)
                if not chunk:
                    raise SandboxError(f"process exited with code {self._process.wait()}")
                buffer += chunk
        return buffer.split(b"\n", 1)[0].decode()

    def _stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-4000:]


def _checked_urls(urls: Any) -> dict[str, str]:
    """The sandbox's URL map, refusing anything but http:// on a loopback address."""
    if not isinstance(urls, dict) or not urls:
        raise SandboxError(f"unexpected URL line: {urls!r}")
    for site, url in urls.items():
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme != "http" or not (host == "localhost" or ipaddress.ip_address(host).is_loopback):
            raise SandboxError(f"{site} URL {url!r} is not loopback http")
    return dict(urls)
