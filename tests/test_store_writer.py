"""StoreWriter's outage logic with a stand-in repository (the real server is in test_pipeline_store.py)."""

from __future__ import annotations

import asyncio
import itertools
from typing import TYPE_CHECKING, Any

import pytest
from itemadapter import ItemAdapter
from mongo_fixtures import make_item
from pymongo.errors import AutoReconnect, OperationFailure, ServerSelectionTimeoutError
from scrapy.statscollectors import MemoryStatsCollector
from scrapy.utils.test import get_crawler

from looqta.store.documents import ProductDocument, to_document
from looqta.store.repository import WriteSummary
from looqta.store.spool import Spool
from looqta.store.writer import StoreWriter, retry_delay

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime
    from pathlib import Path


def doc(number: int) -> ProductDocument:
    return to_document(ItemAdapter(make_item(number)), max_field_bytes=1000, max_document_bytes=10_000)


class FakeRepository:
    """Keeps upserted documents in order; ``down`` makes every call fail as an unreachable server does."""

    def __init__(self) -> None:
        self.down = False
        self.refuse = False
        self.written: list[str] = []
        self.histories: list[str] = []
        self.pings = 0

    def _check(self) -> None:
        if self.refuse:
            raise OperationFailure("not authorized", code=13)
        if self.down:
            raise ServerSelectionTimeoutError("127.0.0.1:1: connection refused")

    async def ping(self) -> None:
        self.pings += 1
        self._check()

    async def ensure_indexes(self) -> None:
        self._check()

    async def write(self, documents: Iterable[ProductDocument], change_id: str, now: datetime) -> Any:
        return await self.upsert(documents, change_id, now)

    async def upsert(
        self, documents: Iterable[ProductDocument], change_id: str, now: datetime
    ) -> WriteSummary:
        self._check()
        batch = list(documents)
        self.written += [d.source_id for d in batch]
        return WriteSummary(upserted=len(batch))

    async def record_history(self, change_id: str, now: datetime) -> int:
        self._check()
        self.histories.append(change_id)
        return 0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_writer(
    tmp_path: Path, repository: FakeRepository, clock: Clock
) -> tuple[StoreWriter, MemoryStatsCollector]:
    stats = MemoryStatsCollector(get_crawler())
    stats.open_spider()
    writer = StoreWriter(
        repository,  # type: ignore[arg-type]
        Spool.open(tmp_path / "spool"),
        stats,
        batch_size=2,
        retry_initial_seconds=1.0,
        retry_max_seconds=4.0,
        clock=clock,
    )
    return writer, stats


def test_retry_delay_doubles_up_to_the_cap() -> None:
    assert [retry_delay(n, 1.0, 4.0) for n in range(1, 6)] == [1.0, 2.0, 4.0, 4.0, 4.0]


def test_an_outage_spools_in_order_and_the_recovery_replays_everything_once(tmp_path: Path) -> None:
    repository, clock = FakeRepository(), Clock()
    writer, stats = make_writer(tmp_path, repository, clock)

    async def main() -> None:
        await writer.start()
        for n in range(2):
            await writer.add(doc(n))
        repository.down = True
        for n in range(2, 6):
            await writer.add(doc(n))
        assert not writer.online
        repository.down = False
        await writer.add(doc(6))
        await writer.add(
            doc(7)
        )  # the store answers, but older documents wait in the spool: these queue behind
        assert repository.written == ["B000000000", "B000000001"]
        writer.tick()  # not yet due: backoff
        await asyncio.sleep(0)
        assert repository.written == ["B000000000", "B000000001"]
        clock.now += 1.0
        writer.tick()
        await writer.close()

    asyncio.run(main())
    assert repository.written == [f"B{n:09d}" for n in range(8)]
    assert (stats.get_value("looqta/store/spooled"), stats.get_value("looqta/store/replayed")) == (6, 6)
    assert stats.get_value("looqta/store/outages") == 1
    assert len(repository.histories) == 1  # the write that failed mid-way has its price history checked
    assert writer.spool.pending_changes() == []
    writer.spool.close()
    assert list((tmp_path / "spool").iterdir()) == []


def test_backoff_grows_while_the_store_stays_down(tmp_path: Path) -> None:
    repository, clock = FakeRepository(), Clock()
    repository.down = True
    writer, stats = make_writer(tmp_path, repository, clock)
    attempts: list[float] = []

    async def main() -> None:
        await writer.start()  # down from the start: not an error
        for _ in range(40):
            clock.now += 0.5
            before = repository.pings
            writer.tick()
            await asyncio.sleep(0)
            if repository.pings > before:
                attempts.append(clock.now)
        await writer.add(doc(1))
        await writer.add(doc(2))

    asyncio.run(main())
    gaps = [round(b - a, 1) for a, b in itertools.pairwise(attempts)]
    assert gaps[:4] == [2.0, 4.0, 4.0, 4.0]
    assert stats.get_value("looqta/store/spooled") == 2
    assert stats.get_value("looqta/store/outages") == 1
    writer.spool.close()  # the spool stays on disk for the next crawl
    assert len(list((tmp_path / "spool").glob("spool-*.sqlite3"))) == 1


def test_a_store_that_refuses_at_start_up_stops_the_crawl(tmp_path: Path) -> None:
    repository = FakeRepository()
    repository.refuse = True
    writer, _stats = make_writer(tmp_path, repository, Clock())
    with pytest.raises(OperationFailure, match="not authorized"):
        asyncio.run(writer.start())
    writer.spool.close()


def test_a_connection_lost_mid_write_spools_the_batch(tmp_path: Path) -> None:
    repository = FakeRepository()
    writer, stats = make_writer(tmp_path, repository, Clock())

    async def main() -> None:
        await writer.start()

        async def drop_connection(*args: object) -> WriteSummary:
            raise AutoReconnect("connection closed")

        repository.upsert = drop_connection  # type: ignore[method-assign]
        await writer.add(doc(1))
        await writer.add(doc(2))

    asyncio.run(main())
    assert stats.get_value("looqta/store/spooled") == 2
    assert writer.spool.pending_changes()  # the write may have landed: its price history is checked later
    writer.spool.close()


def test_a_full_spool_drops_new_documents_with_an_error_and_a_stat_and_the_crawl_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    repository = FakeRepository()
    repository.down = True
    stats = MemoryStatsCollector(get_crawler())
    stats.open_spider()
    size = len(doc(0).to_bson())
    writer = StoreWriter(
        repository,  # type: ignore[arg-type]
        Spool.open(tmp_path / "spool", max_bytes=3 * size),
        stats,
        batch_size=2,
        retry_initial_seconds=1.0,
        retry_max_seconds=4.0,
        clock=Clock(),
    )

    async def main() -> None:
        await writer.start()
        for n in range(6):
            await writer.add(doc(n))

    with caplog.at_level("ERROR", logger="looqta.store.writer"):
        asyncio.run(main())
    assert stats.get_value("looqta/store/spooled") == 3
    assert stats.get_value("looqta/store/spool_full") == 3
    assert "is full" in caplog.text
    assert "LOOQTA_STORE_SPOOL_MAX_BYTES" in caplog.text
    assert [d.source_id for _, d in writer.spool.head(10)] == [f"B{n:09d}" for n in range(3)]
    writer.spool.close()
