from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from itemadapter import ItemAdapter
from mongo_fixtures import make_item

from looqta.store.documents import ProductDocument, to_document
from looqta.store.spool import Spool

if TYPE_CHECKING:
    from pathlib import Path


def docs(*numbers: int) -> list[ProductDocument]:
    return [
        to_document(ItemAdapter(make_item(n)), max_field_bytes=1000, max_document_bytes=10_000)
        for n in numbers
    ]


def test_documents_come_back_oldest_first_and_leave_once_deleted(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path)
    spool.append(docs(1, 2))
    spool.append(docs(3))
    rows = spool.head(2)
    assert [doc for _, doc in rows] == docs(1, 2)
    spool.delete([row_id for row_id, _ in rows])
    assert len(spool) == 1
    assert [doc for _, doc in spool.head(10)] == docs(3)
    spool.delete([row_id for row_id, _ in spool.head(10)])
    spool.close()
    assert list(tmp_path.iterdir()) == []  # an empty spool leaves nothing behind


def test_a_closed_spool_with_rows_is_adopted_by_the_next_one(tmp_path: Path) -> None:
    first = Spool.open(tmp_path)
    first.append(docs(1, 2), change_id="c1")
    first.close()
    left = next(tmp_path.glob("spool-*.sqlite3"))
    assert sqlite3.connect(left).execute("SELECT COUNT(*) FROM documents").fetchone() == (2,)

    second = Spool.open(tmp_path)
    assert len(second) == 2
    assert [doc for _, doc in second.head(10)] == docs(1, 2)
    assert second.pending_changes() == ["c1"]
    assert not left.exists()  # adopted: its rows now live in the new spool only
    second.resolve_change("c1")
    second.delete([row_id for row_id, _ in second.head(10)])
    second.close()
    assert list(tmp_path.iterdir()) == []


def test_a_spool_in_use_is_not_adopted(tmp_path: Path) -> None:
    running = Spool.open(tmp_path)
    running.append(docs(1))
    other = Spool.open(tmp_path)  # another crawl starting while the first still runs
    assert len(other) == 0
    assert len(running) == 1
    assert running.path.exists()
    other.close()
    running.close()


def test_an_unreadable_orphan_is_set_aside_not_fatal(tmp_path: Path) -> None:
    (tmp_path / "spool-1-deadbeef.sqlite3").write_bytes(b"not a database" * 100)
    spool = Spool.open(tmp_path)
    assert len(spool) == 0
    assert (tmp_path / "spool-1-deadbeef.sqlite3.corrupt").exists()
    spool.close()
    assert [path.name for path in tmp_path.iterdir()] == ["spool-1-deadbeef.sqlite3.corrupt"]


def test_the_spool_stops_at_its_byte_cap_and_makes_room_as_rows_leave(tmp_path: Path) -> None:
    size = len(docs(1)[0].to_bson())
    spool = Spool.open(tmp_path, max_bytes=3 * size + size // 2)
    assert spool.append(docs(1, 2)) == 2
    assert spool.append(docs(3, 4, 5)) == 1  # what fits, oldest first; the rest is not stored
    assert len(spool) == 3
    assert spool.size_bytes == 3 * size
    assert spool.append(docs(6), change_id="c1") == 0
    assert spool.pending_changes() == ["c1"]  # a change marker is never refused
    spool.delete([row_id for row_id, _ in spool.head(2)])
    assert spool.size_bytes == size
    assert spool.append(docs(7)) == 1
    assert [doc.source_id for _, doc in spool.head(10)] == ["B000000003", "B000000007"]
    spool.close()
    reopened = Spool.open(tmp_path, max_bytes=size)  # adopted rows count toward the cap
    assert (len(reopened), reopened.size_bytes) == (2, 2 * size)
    assert reopened.append(docs(8)) == 0
    reopened.delete([row_id for row_id, _ in reopened.head(10)])
    reopened.close()
