"""The embedded server's one user: its password kept 0600 in the data dir, and the URI carrying it.

SecantusDB supports SCRAM-SHA-256 (``require_auth``); looqta's server requires it, so another
local user who finds its loopback port can neither read nor write the store. docs/security.md.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from pathlib import Path

#: The password of the server's one user, made at its first start, mode 0600.
SECRET_FILE = "server.secret"  # noqa: S105 - a file name, not a password
USER = "looqta"


def client_uri(host: str, port: int, password: str) -> str:
    """The server's URI, with its user's credentials when it has a password."""
    if not password:
        return f"mongodb://{host}:{port}/?directConnection=true"
    credentials = f"{USER}:{quote(password, safe='')}"
    return f"mongodb://{credentials}@{host}:{port}/?directConnection=true&authSource=admin"


def read_password(data_dir: Path) -> str:
    """The password of the server of ``data_dir``; empty when it has none (yet)."""
    try:
        return (data_dir / SECRET_FILE).read_text().strip()
    except FileNotFoundError:
        return ""


def server_password(data_dir: Path) -> str:
    """The password in ``data_dir/server.secret``, made (random, 0600) if there is none yet.

    Two processes making it at once agree: a file is linked into place only if none is there."""
    with contextlib.suppress(FileNotFoundError):
        return (data_dir / SECRET_FILE).read_text().strip()
    tmp = data_dir / f"{SECRET_FILE}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(32))
    try:
        os.link(tmp, data_dir / SECRET_FILE)
    except FileExistsError:
        pass  # another process made it first: theirs is the password
    finally:
        tmp.unlink()
    return read_password(data_dir)


def require_auth(server: Any, data_dir: Path) -> None:
    """Give a SecantusDB server, before it listens, its one user (root, in ``admin``).

    SecantusDB's own ``createUser`` record, written straight to its storage: the documented way
    (createUser on a server without auth, then a restart with auth) leaves a window without it.
    The server must have been built with ``require_auth=True``."""
    from secantus.auth import SCRAM_SHA_256, derive_credentials

    password = server_password(data_dir)
    record = {
        "_id": f"admin.{USER}",
        "user": USER,
        "db": "admin",
        "credentials": derive_credentials(password, mechanism=SCRAM_SHA_256, username=USER).to_doc(),
        "roles": [{"role": "root", "db": "admin"}],
        "mechanisms": [SCRAM_SHA_256],
    }
    server.storage.add_user("admin", USER, record, replace=True)
