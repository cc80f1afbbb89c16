"""The files benchmark's command line: ``--set`` is checked before any sandbox or crawl starts."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from benchmarks import files


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


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--variant", "idle"], "--variant wants a new LABEL:NAME=VALUE[,NAME=VALUE], got 'idle'"),
        (["--variant", "pool:A=1"], "--variant wants a new LABEL:NAME=VALUE[,NAME=VALUE], got 'pool:A=1'"),
        (["--variant", "x:A=1", "--variant", "x:B=2"], "got 'x:B=2'"),
        (["--variant", "x:A=1,B"], "--variant x: 'B' is not NAME=VALUE"),
        (["--modes", "none,fast"], "--modes: unknown fast; known: none, inline, pool"),
    ],
)
def test_bad_variants_and_modes_are_refused(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        files.main(argv)
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_a_variant_is_the_pool_mode_with_its_settings_beside_the_others(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[list[str]] = []

    class FakeSandbox:
        pid = os.getpid()

        def __init__(self, **kwargs: object) -> None:
            pass

        def __enter__(self) -> FakeSandbox:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def url(self, site: str) -> str:
            return "http://127.0.0.1:1"

    def run(command: list[str], **kwargs: object) -> subprocess.CompletedProcess[bytes]:
        calls.append(command)
        log = kwargs["stdout"]
        log.write(f"crawl {len(calls)}\n".encode())  # type: ignore[attr-defined]
        out = Path(command[command.index("--out") + 1])
        out.write_text(json.dumps(PROBE))
        (out.parent / "stats.json").write_text("{}")
        (out.parent / "items.json").write_text("[]")
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(files, "SandboxProcess", FakeSandbox)
    monkeypatch.setattr(files, "warm_sandbox", lambda *args: 0)
    monkeypatch.setattr(files.subprocess, "run", run)
    code = files.main(
        [
            "--repeat",
            "1",
            "--modes",
            "none",
            "--variant",
            "idle:A=1,B=2",
            "--json",
            str(tmp_path / "r.json"),
            "--keep-logs",
            str(tmp_path / "logs"),
        ]
    )
    assert code == 0
    children = [(c[c.index("--child") + 1], [a for a in c if a.startswith("--set=")]) for c in calls]
    assert children == [("none", []), ("pool", ["--set=A=1", "--set=B=2"])]
    summary = json.loads((tmp_path / "r.json").read_text())["summary"]
    assert [row["mode"] for row in summary] == ["none", "idle"]
    logs = {path.name: path.read_text() for path in (tmp_path / "logs").iterdir()}
    assert logs == {"none-1.log": "crawl 1\n", "idle-1.log": "crawl 2\n"}


PROBE = {
    "pages": 10,
    "pages_per_second": 5.0,
    "lag_p50_ms": 1.0,
    "lag_p99_ms": 2.0,
    "lag_max_ms": 3.0,
    "loop_cpu_p99_ms": 1.0,
    "loop_cpu_max_ms": 1.0,
    "total_seconds": 2.0,
    "first_listing_seconds": 0.5,
    "listing_step_seconds": 0.1,
    "tail_seconds": 0.2,
    "crawl_cpu_seconds": 1.0,
    "machine_cpu_percent": 50.0,
    "machine_niced_percent": 0.0,
    "concurrency_min": 16,
    "concurrency_mean": 16.0,
}
