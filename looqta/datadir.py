"""``LOOQTA_DATA_DIR`` kept private: the directory 0700, everything looqta creates in it 0600.

:class:`PrivateDataDirAddon` runs once per crawl, before any component opens a file: it sets
the process's umask to ``077`` (so the store's spool, the file queue and its objects, the crawl
registry, logs and the embedded server it may start are created owner-only, whoever creates
them) and makes the data directory 0700. Scrapyd and the embedded store server set the same
umask themselves (:data:`PRIVATE_UMASK`). docs/security.md, "Local doors".
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

#: Files created 0600, directories 0700.
PRIVATE_UMASK = 0o077
PRIVATE_DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """Create ``path`` (and its missing parents) 0700, and make it 0700 if it exists and is ours."""
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    if path.stat().st_uid == os.geteuid():
        path.chmod(PRIVATE_DIR_MODE)
    return path


def private_process(path: Path) -> Path:
    """From now on this process creates files 0600 and directories 0700; ``path`` is 0700."""
    os.umask(PRIVATE_UMASK)
    return private_dir(path)


class PrivateDataDirAddon:
    """Scrapy add-on: umask 077 for the crawl process and a 0700 ``LOOQTA_DATA_DIR``."""

    def update_settings(self, settings: BaseSettings) -> None:
        if not settings.getbool("LOOQTA_PRIVATE_FILES_ENABLED", True):
            return
        directory = private_process(Path(settings.get("LOOQTA_DATA_DIR") or ".looqta"))
        logger.debug("umask %03o; %s is 0700", PRIVATE_UMASK, directory)
