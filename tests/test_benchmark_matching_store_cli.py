"""The store-path matching benchmark's command line: bad arguments refused, and a tiny run matches both
sets on both paths into the same products and writes its JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from benchmarks import matching_store
from benchmarks.cli import ROOT

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--offers", "0"], "--offers: must be >= 1, got 0"),
        (["--offers", "1"], "--offers: must be >= 2, got 1"),
        (["--batch-size", "0"], "--batch-size: must be >= 1, got 0"),
        (["--json", "/no/such/dir/x.json"], "--json: no directory /no/such/dir"),
    ],
)
def test_bad_arguments_are_refused(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        matching_store.main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_the_sets_have_the_offers_asked_for_and_one_token_shares_one_key() -> None:
    one_token = matching_store.offers("one-token", 30)
    world = matching_store.offers("world", 30)
    assert len(one_token) == len(world) == 30
    assert {doc["source"] for doc in world} == {"amazon", "noon"}
    assert len({doc["title"] for doc in one_token}) == 30


def test_a_tiny_run_completes(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    argv = ["--offers", "24", "--batch-size", "5", "--json", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.matching_store", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| one-token | batch | 24 |" in done.stdout
    result = json.loads(out.read_text())
    for name in matching_store.SETS:
        runs = result["sets"][name]
        assert runs["same_products"] is True
        assert runs["per-offer"]["products"] == runs["batch"]["products"] > 0
        assert runs["batch"]["read_in_full"] <= runs["per-offer"]["read_in_full"]
        assert all(runs[path]["offers_per_second"] > 0 for path in matching_store.PATHS)
    assert result["sets"]["one-token"]["batch"]["products"] == 24  # no "Galaxy S24 <n>" joins another
    for name in matching_store.SETS:
        reconciled = result["sets"][name]["batch"]["reconcile"]
        assert (reconciled["runs"], reconciled["offers"], reconciled["skipped"]) == (1, 24, 0)
        assert result["sets"][name]["per-offer"]["reconcile"] is None
