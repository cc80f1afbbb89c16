"""The sandbox's price control: a second crawl sees the prices a test moved."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

import pytest
from crawling import run_crawl
from parsel import Selector
from test_sandbox import fetch

from looqta.sandbox.catalogue import Catalogue
from looqta.sandbox.client import SandboxError
from looqta.sandbox.sites import noon
from looqta.sandbox.variants import has_offer

if TYPE_CHECKING:
    from pathlib import Path

    from looqta.sandbox.client import SandboxProcess

QUERY = "galaxy s24"
NOON = Catalogue("noon")


def _crawl_prices(sandbox: SandboxProcess, tmp_path: Path) -> dict[str, str]:
    tmp_path.mkdir()
    result = run_crawl(
        "noon",
        tmp_path,
        spider_args={"q": QUERY, "max_pages": 1, "base_url": sandbox.url("noon")},
        settings={"LOOQTA_FILES_ENABLED": False},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return {item["source_id"]: item["price"] for item in result.items}


def test_a_second_crawl_sees_the_prices_moved(clean_sandbox: SandboxProcess, tmp_path: Path) -> None:
    shown = [p for p in NOON.search(QUERY, 1, noon.PAGE_SIZE).products if has_offer("noon", p.source_id)]
    before = _crawl_prices(clean_sandbox, tmp_path / "before")
    assert before == {p.source_id: str(p.price) for p in shown}
    target = shown[0].source_id
    try:
        assert clean_sandbox.set_price("noon", target, "1234.50")["changed"][target]["price"] == "1234.50"
        changed = clean_sandbox.reprice("noon", share=0.3, step_percent=10, seed=5)["changed"]
        after = _crawl_prices(clean_sandbox, tmp_path / "after")
        moved = set()
        for source_id, price in before.items():
            want = changed[source_id]["price"] if source_id in changed else price
            if source_id == target and source_id not in changed:
                want = "1234.50"
            assert after[source_id] == want, source_id
            if want != price:
                moved.add(source_id)
                ratio = Decimal(want) / Decimal(changed.get(source_id, {}).get("old", price))
                assert source_id == target or ratio.quantize(Decimal("0.01")) in (
                    Decimal("1.10"),
                    Decimal("0.90"),
                )
        assert len(moved) > 2  # the target and a share of the rest
        directions = {Decimal(after[s]) > Decimal(before[s]) for s in moved - {target}}
        assert directions == {True, False}  # up and down
        ledger = clean_sandbox.prices("noon")
        assert ledger[target]["original"] == before[target]
        page = Selector(text=fetch(clean_sandbox.url("noon", noon.product_path(shown[0])))[2].decode())
        assert (
            page.css("[data-qa=div-price-now] [class*=priceNowText]::text").get()
            == f"{Decimal(after[target]):,.2f}"
        )
    finally:
        clean_sandbox.reset_prices("noon")
    assert clean_sandbox.prices("noon") == {}
    page = Selector(text=fetch(clean_sandbox.url("noon", noon.product_path(shown[0])))[2].decode())
    assert page.css("[data-qa=div-price-now] [class*=priceNowText]::text").get() == f"{shown[0].price:,.2f}"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"source_id": "N00000000X", "price": "10"}, "404"),
        ({"source_id": "x", "price": "-1"}, "price must be > 0"),
        ({"share": 0, "step_percent": 5}, "share must be a number in (0, 1]"),
        ({"share": 0.5, "step_percent": 100}, "step_percent must be a number in (0, 100)"),
        ({"share": 0.5, "step_percent": 5, "colour": "red"}, "unknown price fields"),
    ],
)
def test_bad_price_requests_are_refused(clean_sandbox: SandboxProcess, body: dict, reason: str) -> None:
    with pytest.raises(
        SandboxError, match=reason.replace("(", r"\(").replace(")", r"\)").replace("]", r"\]")
    ):
        clean_sandbox._control("POST", "amazon", "/__sandbox__/prices", body)
    assert clean_sandbox.prices("amazon") == {}
