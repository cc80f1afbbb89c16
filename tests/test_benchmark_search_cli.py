"""The search benchmark's command line: bad arguments are refused before anything starts, and a tiny
run (the sandbox, redis-server, warm crawlers, the service and two cold crawls for real) completes."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from benchmarks import search

if TYPE_CHECKING:
    from pathlib import Path

ROOT = search.ROOT


def test_help_names_the_three_parts() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.search", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for option in ("--queries", "--cache-clients", "--saturation-seconds", "--json"):
        assert option in done.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--queries", "0"], "--queries: must be >= 1, got 0"),
        (["--queries", "99"], "--queries: at most"),
        (["--saturation-seconds", "-1"], "--saturation-seconds: must be >= 0"),
        (["--json", "/no/such/dir/x.json"], "--json: no directory /no/such/dir"),
    ],
)
def test_bad_arguments_are_refused(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        search.main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_saturation_queries_are_distinct_and_not_the_measured_ones() -> None:
    queries = search.saturation_queries(1000)
    assert len(queries) == len(set(queries)) > 50
    assert not set(queries) & {*search.QUERIES, search.WARM_UP_QUERY}


def test_a_tiny_run_completes(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    argv = ["--queries", "1", "--cache-requests", "10", "--cache-clients", "5", "--saturation-seconds", "0"]
    argv += ["--cache-rate", "20"]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.search", *argv, "--products", "1000", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| warm service (SSE, cache miss) | 1 |" in done.stdout
    result = json.loads(out.read_text())
    warm, cold = (next(r for r in result["runs"] if r["side"] == side) for side in ("warm", "cold"))
    assert warm["cache"] == "miss"
    assert warm["offers"] == cold["offers"] > 0  # the same pages on both sides
    assert not warm["site_failed"]
    assert not cold["site_failed"]
    assert set(warm["site_done"]) == set(cold["site_done"]) == set(search.SITES)
    for hits in (result["cache_hits"], result["cache_hits_fixed_rate"]):
        assert hits["statuses"] == {"200": 10}
        assert hits["cache_states"] == {"hit": 10}
        assert hits["differing_bodies"] == 0
        assert hits["reference"]["offers"] == warm["offers"]
    assert result["cache_hits_fixed_rate"]["offered_rate"] == 20
    [steps] = result["timeline"]
    for site in search.SITES:  # every step measured, in the order they happen
        step = steps[site]
        assert None not in step.values(), step
        offer = ["pushed", "taken", "at_site", "answered", "offer_in_stream", "offer_read"]
        assert [step[name] for name in offer] == sorted(step[name] for name in offer), step
        assert step["offer_in_stream"] <= step["done_in_stream"] <= step["done_read"], step
    assert set(result["goals"]) == {
        "first_offer_share_of_slowest_site",
        "first_offer_seconds",
        "cache_hit_p99_ms",
    }
