"""``python -m looqta.match rebuild`` (``looqta.match.rebuild.main``) against the real store server.

The matcher is the tests' STAND-IN (``match_standin``); a "rule change" is a second stand-in.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

import match_standin
import pytest
from itemadapter import ItemAdapter
from mongo_fixtures import make_item, store_settings
from storing import crawl_in_process as crawl

from looqta.match import engine, rebuild
from looqta.match.model import Product

if TYPE_CHECKING:
    from pathlib import Path

PHONE = "Apple iPhone 15 128GB Black"
WATCH = "Garmin Forerunner 265"


@pytest.fixture(autouse=True)
def standin(monkeypatch: pytest.MonkeyPatch) -> None:
    match_standin.install(monkeypatch)


def offer(site: str, source_id: str, title: str, price: str, **more: Any) -> dict[str, Any]:
    item = ItemAdapter(make_item(1, source=site, source_id=source_id, title=title, price=Decimal(price)))
    return {**item.asdict(), **more}


ITEMS = [
    offer("amazon", "A1", PHONE, "3199"),
    offer("noon", "N1", PHONE, "2949"),
    offer("amazon", "A2", WATCH, "1499"),
    offer("noon", "N2", WATCH.lower(), "1399"),
    offer("noon", "N3", "Samsung Galaxy S24", "2599"),
]


def rebuilt(uri: str, database: str, capsys: pytest.CaptureFixture[str], *more: str) -> tuple[int, str, str]:
    code = rebuild.main(["--uri", uri, "--database", database, *more])
    out = capsys.readouterr()
    return code, out.out.strip(), out.err


def snapshot(db: Any) -> dict[str, Any]:
    return {doc["_id"]: doc for doc in db.products.find()}


def test_rebuild_groups_every_offer_and_a_second_run_changes_nothing(
    mongo_uri: str, mongo_db: str, db: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crawl(store_settings(mongo_uri, mongo_db, tmp_path, LOOQTA_STORE_MATCH_ENABLED=False), ITEMS)
    code, out, err = rebuilt(mongo_uri, mongo_db, capsys, "--progress-every", "2")
    assert code == 0, err
    assert out == "offers 5  created 3  updated 0  removed 0  unchanged 0  conflicts 0"
    assert "read 5 offers" in err
    assert "wrote 2 of 3 products" in err
    groups = sorted(doc["offer_keys"] for doc in db.products.find())
    assert groups == [["amazon:A1", "noon:N1"], ["amazon:A2", "noon:N2"], ["noon:N3"]]
    before = snapshot(db)
    code, out, _ = rebuilt(mongo_uri, mongo_db, capsys)
    assert (code, out) == (0, "offers 5  created 0  updated 0  removed 0  unchanged 3  conflicts 0")
    assert snapshot(db) == before  # not even a version bumped


def test_rebuild_after_incremental_matching_finds_the_same_products(
    mongo_uri: str, mongo_db: str, db: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = store_settings(mongo_uri, mongo_db, tmp_path)
    crawl(settings, ITEMS[:3])
    crawl(
        settings, [*ITEMS[3:], offer("amazon", "A1", PHONE, "2999", scraped_at="2026-02-01T00:00:00+00:00")]
    )
    code, out, _ = rebuilt(mongo_uri, mongo_db, capsys)
    assert (code, out) == (0, "offers 5  created 0  updated 0  removed 0  unchanged 3  conflicts 0")


def test_after_a_rule_change_rebuild_splits_and_removes_what_is_no_longer_produced(
    mongo_uri: str,
    mongo_db: str,
    db: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    crawl(store_settings(mongo_uri, mongo_db, tmp_path, LOOQTA_STORE_MATCH_ENABLED=False), ITEMS)
    assert rebuilt(mongo_uri, mongo_db, capsys)[0] == 0
    [phone] = db.products.find({"offer_keys": "noon:N1"})

    def stricter(offers: Any) -> list[Product]:  # the new rules: the phones are two products
        kept = [p for p in match_standin.group(offers) if "noon:N1" not in p.offers]
        return [*kept, Product("split-a1", ("amazon:A1",)), Product("split-n1", ("noon:N1",))]

    monkeypatch.setattr(engine, "group", stricter)
    code, out, _ = rebuilt(mongo_uri, mongo_db, capsys)
    assert (code, out) == (0, "offers 5  created 2  updated 0  removed 1  unchanged 2  conflicts 0")
    assert db.products.find_one({"_id": phone["_id"]}) is None
    assert db.products.find_one({"_id": "split-n1"})["offer_keys"] == ["noon:N1"]
    assert db.products.find_one({"_id": "split-n1"})["matches"] == []
    assert sorted(doc["offer_keys"] for doc in db.products.find()) == [
        ["amazon:A1"],
        ["amazon:A2", "noon:N2"],
        ["noon:N1"],
        ["noon:N3"],
    ]
    code, out, _ = rebuilt(mongo_uri, mongo_db, capsys)
    assert out == "offers 5  created 0  updated 0  removed 0  unchanged 4  conflicts 0"


def test_rebuild_on_an_unreachable_store_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code = rebuild.main(["--uri", "mongodb://127.0.0.1:9", "-s", "LOOQTA_STORE_CONNECT_TIMEOUT_SECONDS=0.3"])
    assert code == 2
    assert capsys.readouterr().err.startswith("looqta.match rebuild: the store did not answer")
