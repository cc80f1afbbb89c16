"""The adaptive-rendering benchmark's command line: arguments are checked before any sandbox
starts, and each variant's crawl gets its own arguments and render mode."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from benchmarks import adaptive

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: subcommand"),
        (["render"], "invalid choice: 'render'"),
        (["search", "--repeat", "0"], "--repeat: must be >= 1, got 0"),
        (["adaptive", "--max-pages", "-2"], "--max-pages: must be >= 1, got -2"),
        (["search", "--products", "many"], "invalid positive value: 'many'"),
        (["search", "--out", "/no/such/dir/x.json"], "--out: no directory /no/such/dir"),
        (["adaptive", "--set", "=0"], "--set wants NAME=VALUE, got '=0'"),
    ],
)
def test_bad_arguments_are_refused(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        adaptive.main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_each_variant_crawls_with_its_own_arguments(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commands: list[list[str]] = []
    faults: list[dict[str, object]] = []

    class FakeSandbox:
        def __init__(self, **kwargs: object) -> None:
            assert kwargs == {"sites": ("amazon",), "products": 50}

        def __enter__(self) -> FakeSandbox:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def url(self, site: str) -> str:
            return "http://127.0.0.1:1"

        def set_faults(self, site: str, **fault: object) -> None:
            faults.append({"site": site, **fault})

    def run_crawl(label: str, command: list[str], work: Path, timeout: float) -> None:
        commands.append(command)
        details = "details=1" in command
        stats = {"elapsed_time_seconds": 2.0, "item_scraped_count": 10, "looqta/pages/search/ok": 1}
        (work / "stats.json").write_text(
            json.dumps(stats | ({"looqta/pages/product/ok": 10} if details else {}))
        )
        (work / "items.jsonl").write_text('{"availability": "in_stock"}\n' if details else "{}\n")

    monkeypatch.setattr(adaptive, "SandboxProcess", FakeSandbox)
    monkeypatch.setattr(adaptive, "run_crawl", run_crawl)
    out = tmp_path / "r.json"
    argv = ["adaptive", "--repeat", "1", "--products", "50", "--set", "A=1=2", "--out", str(out)]
    assert adaptive.main(argv) == 0

    assert faults == [{"site": "amazon", **adaptive.CHALLENGE_FAULT}]
    seen = {
        (
            "details=1" in command,
            next(arg.split("=", 1)[1] for arg in command if arg.startswith("LOOQTA_RENDER_MODE=")),
        )
        for command in commands
    }
    assert seen == {(details, mode) for details in (False, True) for mode in ("adaptive", "http", "browser")}
    assert all(command[command.index("A=1=2") - 1] == "-s" for command in commands)
    result = json.loads(out.read_text())
    assert result["command"] == f".venv/bin/python -m benchmarks.adaptive {' '.join(argv)}"
    assert result["settings"]["A"] == "1=2"
    assert result["commit"]
    with_js = result["summary"]["pages-with-js/adaptive"]
    assert (with_js["pages"], with_js["items_per_second"], with_js["items_with_details"]) == (11, 5.0, 1)
    assert result["goals"]["pages-with-js"]["met"] is True
    assert json.loads(capsys.readouterr().out) == result
