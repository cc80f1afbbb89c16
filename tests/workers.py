"""Which pytest-xdist worker runs this session (deploy/test.sh runs the suite on two).

Servers the session starts are its own (free ports, its temporary directory); a server the tests
are pointed at (``LOOQTA_TEST_REDIS_URL``, ``LOOQTA_TEST_MONGO_URI``) is shared by the workers,
so each takes a database of its own there.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit


def worker_number() -> int:
    """0, 1, ... for the workers ``gw0``, ``gw1``, ...; 0 in a run without workers."""
    return int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))


def worker_redis_url(url: str) -> str:
    """``url`` on database N + k for worker k (N: the database it names, 0 if none)."""
    parts = urlsplit(url)
    database = int(parts.path.strip("/") or 0) + worker_number()
    return urlunsplit(parts._replace(path=f"/{database}"))
