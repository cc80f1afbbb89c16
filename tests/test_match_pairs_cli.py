"""``python -m looqta.match pairs LEFT RIGHT`` as a subprocess on temporary files: pairs out as JSON
lines, and exit 2 with the file and line named on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

LEFT = [
    {
        "id": "B0CHX1W1XY",
        "title": "Apple iPhone 15 Pro (256 GB) - Natural Titanium",
        "brand": "Apple",
        "price": 4599,
    },
    {
        "id": "B0CMDRCZBJ",
        "title": "Samsung Galaxy S24 Ultra, 12GB RAM, 256GB Storage, Titanium Black (UAE Version)",
    },
    {"id": "B0CHWV2WYK", "title": "Apple iPhone 15 Pro Max (256 GB) - Blue Titanium"},
]
RIGHT = [
    {"id": 7, "title": "Galaxy S24 Ultra Dual SIM Titanium Black 12GB RAM 256GB 5G - Middle East Version"},
    {
        "id": "N53432547A",
        "title": "iPhone 15 Pro 256GB Natural Titanium 5G With FaceTime - Middle East Version",
    },
    {
        "id": "N53432550A",
        "title": "iPhone 15 Pro 256GB Blue Titanium - Middle East Version",
        "price": "4399.00",
    },
]


def write(path: Path, records: list[dict] | list[str]) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n")
    return path


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "looqta.match", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_matched_pairs_come_out_as_json_lines(tmp_path: Path) -> None:
    done = run("pairs", write(tmp_path / "l.jsonl", LEFT), write(tmp_path / "r.jsonl", RIGHT))
    assert done.returncode == 0, done.stderr
    pairs = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(p["left"], p["right"]) for p in pairs] == [("B0CHX1W1XY", "N53432547A"), ("B0CMDRCZBJ", "7")]
    for pair in pairs:
        assert set(pair) == {"left", "right", "score", "rule"}
        assert pair["rule"] == "title"
        assert 0.86 <= pair["score"] <= 1.0
    # The Pro Max (left) and the blue Pro (right) are not one product: both stay unmatched.


def test_blank_lines_are_skipped_and_no_match_prints_nothing(tmp_path: Path) -> None:
    left = write(tmp_path / "l.jsonl", ["", json.dumps(LEFT[2]), "   "])
    done = run("pairs", left, write(tmp_path / "r.jsonl", RIGHT[:2]))
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_a_missing_file_exits_2_naming_it(tmp_path: Path) -> None:
    done = run("pairs", write(tmp_path / "l.jsonl", LEFT), tmp_path / "nope.jsonl")
    assert done.returncode == 2
    assert f"{tmp_path / 'nope.jsonl'}: no such file" in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", ":2: not JSON"),
        ('["id", "title"]', ":2: a JSON object is needed, got list"),
        ('{"title": "Apple iPhone 15 (128 GB) - Black"}', ":2: 'id' must be a non-empty string, got None"),
        ('{"id": "x1"}', ":2: 'title' must be a non-empty string, got None"),
        ('{"id": "x1", "title": "   "}', ":2: 'title' must be a non-empty string"),
        ('{"id": "x1", "title": "iPhone 15", "price": "cheap"}', ":2: 'price' must be a number"),
        ('{"id": "x1", "title": "iPhone 15", "brand": 5}', ":2: 'brand' must be a string or absent"),
        (json.dumps(LEFT[0]), ":2: id 'B0CHX1W1XY' already on line 1"),
    ],
)
def test_a_bad_line_exits_2_naming_the_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    left = write(tmp_path / "l.jsonl", [json.dumps(LEFT[0]), line])
    done = run("pairs", left, write(tmp_path / "r.jsonl", RIGHT))
    assert done.returncode == 2
    assert f"error: {left}{message}" in done.stderr
    assert done.stdout == ""


def test_usage_errors_exit_2() -> None:
    done = run("pairs", "only-one.jsonl")
    assert done.returncode == 2
    assert "usage:" in done.stderr


def test_pairs_works_without_the_rebuild_module(tmp_path: Path) -> None:
    left, right = write(tmp_path / "l.jsonl", LEFT), write(tmp_path / "r.jsonl", RIGHT)
    code = (
        "import sys; sys.modules['looqta.match.rebuild'] = None\n"
        "from looqta.match.__main__ import main\n"
        f"sys.exit(main(['pairs', {str(left)!r}, {str(right)!r}]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 2


def test_rebuild_is_handed_to_the_store_sides_module_with_its_arguments() -> None:
    code = (
        "import sys, types\n"
        "fake = types.ModuleType('looqta.match.rebuild')\n"
        "fake.main = lambda argv: print('rebuild got', argv) or 3\n"
        "sys.modules['looqta.match.rebuild'] = fake\n"
        "from looqta.match.__main__ import main\n"
        "sys.exit(main(['rebuild', '--dry-run', '-s', 'X=1']))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 3, done.stderr
    assert done.stdout.strip() == "rebuild got ['--dry-run', '-s', 'X=1']"
