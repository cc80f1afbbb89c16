"""Where operations state lives and how Scrapyd is reached, read once from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROJECT = "looqta"  # every site in one Scrapyd project: Scrapyd orders priorities per project


#: The variables that hold Scrapyd's credentials: given to scrapyd-deploy, never to Scrapyd and
#: its jobs (Scrapyd reads them from its config file; a crawl has no use for them).
CREDENTIAL_VARIABLES: tuple[str, ...] = ("LOOQTA_SCRAPYD_USERNAME", "LOOQTA_SCRAPYD_PASSWORD")


class OpsConfigError(ValueError):
    """A required environment variable is missing or invalid."""


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

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def scrapyd_dir(self) -> Path:
        return self.data_dir / "scrapyd"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, *, need_credentials: bool = True) -> OpsConfig:
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
        return cls(
            data_dir=data_dir,
            port=port,
            username=username,
            password=password,
            venv_bin=Path(env.get("LOOQTA_VENV_BIN") or PROJECT_ROOT / ".venv" / "bin"),
        )

    def child_env(self) -> dict[str, str]:
        """Environment for Scrapyd and the jobs it starts: absolute paths, nothing relative to a
        cwd, and no Scrapyd credentials (Scrapyd reads them from its 0600 config file)."""
        env = {name: value for name, value in os.environ.items() if name not in CREDENTIAL_VARIABLES}
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
