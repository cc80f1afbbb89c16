"""The matching benchmark's command line: bad arguments refused, and a tiny run scores the labelled
set, writes its JSON and the set itself (which ``python -m looqta.match pairs`` reads)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from benchmarks import matching, matching_groups, matching_world
from benchmarks.matching_set import NEGATIVE_KINDS, build
from looqta.match.model import Match

if TYPE_CHECKING:
    from pathlib import Path

ROOT = matching.ROOT


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--offers", "3"], "--offers: must be >= 10, got 3"),
        (["--memory-offers", "a,b"], "--memory-offers: comma-separated integers"),
        (["--memory-offers", "5"], "--memory-offers: each size must be >= 10"),
        (["--json", "/no/such/dir/x.json"], "--json: no directory /no/such/dir"),
        (["--world-offers", "5"], "--world-offers: must be >= 10, got 5"),
        (["--set", "mine"], "argument --set: invalid choice: 'mine'"),
    ],
)
def test_bad_arguments_are_refused(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        matching.main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_the_set_is_the_same_for_the_same_seed_and_has_every_negative_kind() -> None:
    first, again = build(400, seed=5), build(400, seed=5)
    assert [(o.id, o.title) for o in first.offers] == [(o.id, o.title) for o in again.offers]
    assert {o.negative for o in first.offers} >= set(NEGATIVE_KINDS)
    assert 0 < first.possible_pairs() < len(first.offers) / 2
    singles = [o for o in first.offers if sum(x.identity == o.identity for x in first.offers) == 1]
    assert singles  # products on one site only


def test_a_tiny_run_completes(tmp_path: Path) -> None:
    out, sets = tmp_path / "r.json", tmp_path / "set"
    argv = ["--set", "own", "--offers", "300", "--memory-offers", "100,200", "--json", str(out)]
    argv += ["--write-set", str(sets)]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.matching", *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| all |" in done.stdout
    assert "| hard negative | offers | wrongly matched |" in done.stdout
    result = json.loads(out.read_text())
    overall = result["quality"]["overall"]
    assert overall["possible"] > 50
    assert overall["precision"] >= matching.GOAL_PRECISION
    assert overall["recall"] >= matching.GOAL_RECALL
    assert set(result["quality"]["negatives"]) == set(NEGATIVE_KINDS)
    assert [round(m["offers"], -2) for m in result["memory"]] == [100, 200]
    assert all(m["peak_mib"] > 0 for m in result["memory"])
    assert result["speed"]["offers_per_second"] > 0
    assert set(result["goals"]) == {"precision", "recall"}
    # The written set, through the pairs command, gives the benchmark's own pair count.
    pairs = subprocess.run(
        [sys.executable, "-m", "looqta.match", "pairs", str(sets / "amazon.jsonl"), str(sets / "noon.jsonl")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert len(pairs.stdout.splitlines()) == overall["predicted"]


def test_the_world_set_is_scored_per_kind_and_category_beside_the_own_set(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    argv = ["--set", "both", "--offers", "200", "--world-offers", "300", "--memory-offers", "100"]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.matching", *argv, "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| all |" in done.stdout
    assert "world set (held out)" in done.stdout
    assert "| kind accessory |" in done.stdout
    result = json.loads(out.read_text())
    world = result["world"]["quality"]
    assert set(world["per_kind"]) == {"device", "accessory", "renewed", "bundle"}
    assert world["overall"]["possible"] == sum(row["possible"] for row in world["per_kind"].values())
    assert world["overall"]["true"] <= world["overall"]["predicted"]
    assert {"world_precision", "world_recall"} <= set(result["goals"])
    assert "| incremental_site_by_site |" in done.stdout
    products = result["products"]
    for made_by in ("group", "incremental_interleaved", "incremental_site_by_site"):
        row = products[made_by]
        assert row["possible"] == world["overall"]["possible"]
        assert 0 < row["true"] <= row["predicted"]
        assert row["holding_another_product"] <= row["products_on_both_sites"]
    assert {"products_precision", "products_recall"} <= set(result["goals"])


def test_products_are_scored_by_the_cross_site_pairs_inside_them() -> None:
    sides = matching_world.build(200)
    left, right = sides["amazon"], sides["noon"]
    a, b = next((a, b) for a in left for b in right if a.product == b.product)
    other = next(o for o in right if o.product != a.product)
    found = matching_groups.score(sides, [[a.offer.key, b.offer.key, other.offer.key]])
    assert (found["true"], found["predicted"]) == (1, 2)
    assert (found["products_on_both_sites"], found["holding_another_product"]) == (1, 1)
    clean = matching_groups.score(sides, [[a.offer.key, b.offer.key], [other.offer.key]])
    assert (clean["true"], clean["predicted"], clean["holding_another_product"]) == (1, 1, 0)


def test_the_world_set_counts_a_pair_right_only_when_both_offers_are_one_world_product() -> None:
    sides = matching_world.build(200)
    left, right = sides["amazon"], sides["noon"]
    same = next((a, b) for a in left for b in right if a.product == b.product)
    other = next(b for b in right if b.product != same[0].product)
    pairs = [
        Match(same[0].offer.key, same[1].offer.key, 1.0, "title"),
        Match(same[0].offer.key, other.offer.key, 1.0, "title"),
    ]
    overall = matching_world.score(sides, pairs)["overall"]
    assert (overall["true"], overall["predicted"]) == (1, 2)
