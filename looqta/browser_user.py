"""Chromium as an unprivileged user when the crawl runs as root, so it keeps its sandbox.

Chromium refuses to start as root unless its sandbox is off (``--no-sandbox``); a renderer
exploited by a hostile page would then run as root with no sandbox. Playwright's ``launch`` has no
user option, so when the crawl runs as root and the browser user exists (``LOOQTA_BROWSER_USER``,
made by deploy/bootstrap.sh), the executable Playwright starts is a small wrapper that hands
Playwright's fresh profile directory to that user and ``exec``\\s Chromium through ``setpriv`` as
that user: Playwright keeps its pipe (the file descriptors pass through ``exec``) and its pid.
docs/security.md, "Local doors".
"""

from __future__ import annotations

import os
import pwd
import shlex
import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING

from looqta.datadir import private_dir

if TYPE_CHECKING:
    from pathlib import Path

#: The user deploy/bootstrap.sh creates for the browser.
DEFAULT_BROWSER_USER = "looqta-browser"

_WRAPPER = """#!/bin/sh
# Made by looqta/browser_user.py: Chromium as {user} (uid {uid}), its sandbox on.
set -eu
for arg in "$@"; do
  case "$arg" in
    --user-data-dir=*)
      profile="${{arg#--user-data-dir=}}"
      chown -R {uid}:{gid} "$profile"
      export HOME="$profile";;
  esac
done
exec {setpriv} --reuid={uid} --regid={gid} --clear-groups --inh-caps=-all -- {chromium} "$@"
"""


@dataclass(frozen=True)
class BrowserUser:
    name: str
    uid: int
    gid: int


def browser_user(name: str) -> BrowserUser | None:
    """The unprivileged user to run the browser as: None when not running as root, or when the
    user does not exist (then Chromium runs as root without its sandbox, as before)."""
    if not name or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    if entry.pw_uid == 0:
        raise ValueError(f"LOOQTA_BROWSER_USER={name!r} is root: the browser would have no sandbox")
    return BrowserUser(name, entry.pw_uid, entry.pw_gid)


def write_wrapper(directory: Path, chromium: str, user: BrowserUser) -> str:
    """Write (atomically, 0700, owned by root) the wrapper that starts ``chromium`` as ``user``."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise ValueError("setpriv (util-linux) is needed to run the browser as LOOQTA_BROWSER_USER")
    text = _WRAPPER.format(
        user=user.name,
        uid=user.uid,
        gid=user.gid,
        setpriv=shlex.quote(setpriv),
        chromium=shlex.quote(chromium),
    )
    path = private_dir(directory) / f"chromium-as-{user.name}"
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o700)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    tmp.replace(path)
    return str(path)
