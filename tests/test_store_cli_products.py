"""``python -m looqta.store products WORDS`` as a user runs it: a subprocess against the test server.

The products are matched in this process by the tests' STAND-IN matcher (``match_standin``); the
command only reads them.
"""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import match_standin
import pytest
from itemadapter import ItemAdapter
from mongo_fixtures import PROJECT_ROOT, make_item, python_env, store_settings
from storing import crawl_in_process as crawl

if TYPE_CHECKING:
    from pathlib import Path

PHONE = "Apple iPhone 15 128GB Black"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "looqta.store", *args],
        cwd=PROJECT_ROOT,
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def offer(site: str, source_id: str, title: str, price: str, **more: Any) -> dict[str, Any]:
    item = ItemAdapter(make_item(1, source=site, source_id=source_id, title=title, price=Decimal(price)))
    return {**item.asdict(), "url": f"http://127.0.0.1/{source_id}", **more}


@pytest.fixture
def stocked(mongo_uri: str, mongo_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    match_standin.install(monkeypatch)
    settings = store_settings(mongo_uri, mongo_db, tmp_path)
    crawl(
        settings,
        [
            offer("amazon", "A1", PHONE, "3199.00"),
            offer("noon", "N1", PHONE, "2949.00"),
            offer("amazon", "A2", "Apple iPhone 15 silicone case", "79.00"),
            offer("noon", "N2", "Samsung Galaxy S24", "2599.00"),
        ],
    )
    crawl(settings, [offer("amazon", "A1", PHONE, "2899.00", scraped_at="2026-02-01T10:00:00+00:00")])
    return ["--uri", mongo_uri, "--database", mongo_db]


def test_products_lists_each_sites_price_the_cheapest_and_the_last_change(stocked: list[str]) -> None:
    done = cli(*stocked, "products", "iphone", "15")
    assert done.returncode == 0, done.stderr
    blocks = [block.splitlines() for block in done.stdout.strip().split("\n\n")]
    case, phone = blocks  # the cheapest product first
    assert case[0].endswith("Apple iPhone 15 silicone case  (1 offers)")
    assert phone[0].endswith(f"{PHONE}  (2 offers)")
    assert phone[1].split() == ["SITE", "PRICE", "CUR", "CHANGE", "ID", "URL"]
    amazon, noon = phone[2:]
    assert amazon.startswith("* amazon")  # the cheapest, marked
    assert amazon.split()[1:4] == ["amazon", "2899.00", "AED"]
    assert "-300.00 (was 3199.00) 2026-02-01" in amazon
    assert noon.startswith("  noon")
    assert noon.split()[:4] == ["noon", "2949.00", "AED", "-"]
    assert noon.split()[-2:] == ["N1", "http://127.0.0.1/N1"]


def test_products_without_a_match_says_so_and_limit_keeps_the_cheapest(stocked: list[str]) -> None:
    none = cli(*stocked, "products", "nokia")
    assert none.returncode == 1
    assert "No product matches 'nokia'" in none.stderr
    one = cli(*stocked, "products", "iphone", "--limit", "1")
    assert one.returncode == 0, one.stderr
    assert "silicone case" in one.stdout
    assert PHONE not in one.stdout


def test_products_errors_exit_2() -> None:
    unreachable = cli(
        "--uri", "mongodb://127.0.0.1:9", "-s", "LOOQTA_STORE_CONNECT_TIMEOUT_SECONDS=0.3", "products", "x"
    )
    assert unreachable.returncode == 2
    assert unreachable.stderr.startswith("looqta.store: the store did not answer")
    bad_limit = cli("products", "iphone", "--limit", "0")
    assert bad_limit.returncode == 2
    assert "--limit must be >= 1" in bad_limit.stderr
