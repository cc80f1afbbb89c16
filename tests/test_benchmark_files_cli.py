"""The files benchmark's command line: ``--set`` is checked before any sandbox or crawl starts."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from benchmarks import files

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize("assignment", ["LOOQTA_FILES_MAX_DOWNLOADS", "=8"])
def test_set_without_a_name_and_value_is_refused(assignment: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        files.main(["--set", assignment])
    assert exited.value.code == 2
    assert f"--set wants NAME=VALUE, got {assignment!r}" in capsys.readouterr().err


def test_set_values_reach_the_child_crawl(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}

    def crawl_once(
        mode: str, base_url: str, query: str, max_pages: int, out: Path, extra: dict[str, str] | None = None
    ) -> None:
        seen.update(mode=mode, extra=extra)

    monkeypatch.setattr(files, "crawl_once", crawl_once)
    code = files.main(
        [
            "--child",
            "pool",
            "--base-url",
            "http://127.0.0.1:1",
            "--out",
            "x.json",
            "--set",
            "A=1=2",
            "--set",
            "B=",
        ]
    )
    assert code == 0
    assert seen == {"mode": "pool", "extra": {"A": "1=2", "B": ""}}
