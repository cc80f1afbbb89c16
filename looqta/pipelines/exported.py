"""Each item once in the feeds of a crawl resumed from its JOBDIR.

Scrapy keeps a job's requests in JOBDIR, but a crawl killed and resumed fetches some pages
again and yields their items again; the feeds would hold them twice. This pipeline, placed last,
keeps the products exported so far in the job (``JOBDIR/exported.ids``, one JSON line each,
appended and fsync'd) and drops an item already there (``looqta/feeds/already_exported``).
An item's line is durable *before* the item goes on to the feed exporters, so a kill can lose
from the feed the few items between this pipeline and the exporter, never write one twice
(docs/store.md, "A resumed job's feeds"). Off without JOBDIR.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem, NotConfigured
from scrapy.utils.job import job_dir

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

IDS_FILE = "exported.ids"


class ExportOncePipeline:
    def __init__(self, crawler: Crawler) -> None:
        directory = job_dir(crawler.settings)
        if not directory:
            raise NotConfigured("no JOBDIR: a crawl that cannot resume exports each item once anyway")
        if not crawler.settings.getbool("LOOQTA_EXPORT_ONCE_ENABLED", True):
            raise NotConfigured("LOOQTA_EXPORT_ONCE_ENABLED is off")
        self.path = Path(directory) / IDS_FILE
        self.stats = crawler.stats
        self._exported: set[str] = set()
        self._fd: int | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    async def open_spider(self) -> None:
        self._exported, self._fd = await asyncio.to_thread(_open, self.path)

    async def close_spider(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    async def process_item(self, item: Any) -> Any:
        assert self._fd is not None, "open_spider() was not called"
        adapter = ItemAdapter(item)
        if adapter.get("source_id") is None:
            return item
        key = json.dumps([adapter.get("source"), adapter.get("source_id")], ensure_ascii=True)
        if key in self._exported:
            self.stats.inc_value("looqta/feeds/already_exported")
            raise DropItem(f"already exported in this job: {key}", log_level="DEBUG")
        self._exported.add(key)
        await asyncio.to_thread(_append, self._fd, key)
        return item


def _open(path: Path) -> tuple[set[str], int]:
    """The keys recorded so far, and the file opened for appending. A last line cut by a kill
    is removed: its item had not gone on to the feeds."""
    data = path.read_bytes() if path.exists() else b""
    whole = data[: data.rfind(b"\n") + 1]
    if len(whole) != len(data):
        with path.open("r+b") as handle:
            handle.truncate(len(whole))
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    return set(whole.decode("utf-8").splitlines()), fd


def _append(fd: int, key: str) -> None:
    os.write(fd, f"{key}\n".encode())  # one write on an O_APPEND file: lines never interleave
    os.fsync(fd)
