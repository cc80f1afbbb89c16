"""Where operations state lives and how Scrapyd is reached, read once from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

if TYPE_CHECKING:
    from collections.abc import Mapping

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROJECT = "looqta"  # every site in one Scrapyd project: Scrapyd orders priorities per project


#: The variables that hold Scrapyd's credentials: given to scrapyd-deploy, never to Scrapyd and
#: its jobs (Scrapyd reads them from its config file; a crawl has no use for them).
CREDENTIAL_VARIABLES: tuple[str, ...] = ("LOOQTA_SCRAPYD_USERNAME", "LOOQTA_SCRAPYD_PASSWORD")
#: Secrets of other servers kept out of Scrapyd's environment (and so out of every job's
#: ``/proc/<pid>/environ``): a warm crawler reads the Redis URL from a 0600 file (looqta/ops/warm.py).
SECRET_VARIABLES: tuple[str, ...] = ("REDIS_URL",)


class OpsConfigError(ValueError):
    """A required environment variable is missing or invalid."""


def _positive(env: Mapping[str, str], name: str, default: float, kind: type[float] | type[int]) -> float:
    raw = env.get(name, "")
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise OpsConfigError(f"{name} must be a {kind.__name__}, got {raw!r}") from None
    if not value > 0:
        raise OpsConfigError(f"{name} must be > 0, got {raw!r}")
    return value


def _check_credential(name: str, value: str) -> None:
    """One line of Scrapyd's config holds it: no line breaks or other control characters, and no
    surrounding spaces (configparser would strip them)."""
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise OpsConfigError(f"{name} must not contain control characters or line breaks")
    if value != value.strip():
        raise OpsConfigError(f"{name} must not start or end with spaces")


@dataclass(frozen=True)
class OpsConfig:
    data_dir: Path
    port: int
    username: str
    password: str
    venv_bin: Path
    #: Scrapyd's ``max_proc`` (``LOOQTA_SCRAPYD_MAX_PROC``; default: two per CPU: one crawl and one warm crawler).
    max_proc: int = 1
    #: ``REDIS_URL`` as ops sees it; empty: the embedded server under ``data_dir/redis``.
    redis_url: str = ""
    #: How often ``schedule`` starts again the warm crawlers that exited (``LOOQTA_OPS_WARM_CHECK_SECONDS``).
    warm_check_seconds: float = 30.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def scrapyd_dir(self) -> Path:
        return self.data_dir / "scrapyd"

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, need_credentials: bool = True
    ) -> OpsConfig:
        env = os.environ if environ is None else environ
        data_dir = Path(env.get("LOOQTA_DATA_DIR") or PROJECT_ROOT / ".looqta").resolve()
        raw_port = env.get("LOOQTA_SCRAPYD_PORT", "6800")
        try:
            port = int(raw_port)
        except ValueError:
            raise OpsConfigError(f"LOOQTA_SCRAPYD_PORT must be a port number, got {raw_port!r}") from None
        if not 0 < port < 65536:
            raise OpsConfigError(f"LOOQTA_SCRAPYD_PORT must be 1-65535, got {port}")
        username = env.get("LOOQTA_SCRAPYD_USERNAME", "")
        password = env.get("LOOQTA_SCRAPYD_PASSWORD", "")
        if need_credentials and not (username and password):
            raise OpsConfigError(
                "set LOOQTA_SCRAPYD_USERNAME and LOOQTA_SCRAPYD_PASSWORD: "
                "Scrapyd is never run without a password"
            )
        _check_credential("LOOQTA_SCRAPYD_USERNAME", username)
        _check_credential("LOOQTA_SCRAPYD_PASSWORD", password)
        max_proc = _positive(env, "LOOQTA_SCRAPYD_MAX_PROC", 2 * (psutil.cpu_count(logical=True) or 1), int)
        return cls(
            data_dir=data_dir,
            port=port,
            username=username,
            password=password,
            venv_bin=Path(env.get("LOOQTA_VENV_BIN") or PROJECT_ROOT / ".venv" / "bin"),
            max_proc=int(max_proc),
            redis_url=env.get("REDIS_URL", "").strip(),
            warm_check_seconds=_positive(env, "LOOQTA_OPS_WARM_CHECK_SECONDS", 30.0, float),
        )

    def child_env(self) -> dict[str, str]:
        """Environment for Scrapyd and the jobs it starts: absolute paths, nothing relative to a
        cwd, no Scrapyd credentials (Scrapyd reads them from its 0600 config file) and no
        ``REDIS_URL`` (a warm job is given the path of a 0600 file holding it)."""
        hidden = CREDENTIAL_VARIABLES + SECRET_VARIABLES
        env = {name: value for name, value in os.environ.items() if name not in hidden}
        return {
            **env,
            "LOOQTA_DATA_DIR": str(self.data_dir),
            "LOOQTA_SCRAPYD_PORT": str(self.port),
            "PATH": f"{self.venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def deploy_env(self) -> dict[str, str]:
        """Environment for scrapyd-deploy: scrapy.cfg's ``[deploy]`` reads the credentials from it."""
        return {
            **self.child_env(),
            "LOOQTA_SCRAPYD_USERNAME": self.username,
            "LOOQTA_SCRAPYD_PASSWORD": self.password,
        }
