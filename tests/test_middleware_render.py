from __future__ import annotations

from typing import TYPE_CHECKING

from crawling import run_crawl

if TYPE_CHECKING:
    from pathlib import Path

    from looqta.sandbox.client import SandboxProcess


def test_a_context_over_the_limit_is_refused_instead_of_hanging_the_crawl(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    # Without RenderMiddleware the third context waits forever for a free slot
    # and this crawl never ends (run_crawl's timeout would fail the test).
    result = run_crawl(
        "tests/spiders/contexts.py",
        tmp_path,
        runspider=True,
        spider_args={"noon": clean_sandbox.url("noon"), "contexts": "default,a,b"},
        settings={"PLAYWRIGHT_MAX_CONTEXTS": 2, "ITEM_PIPELINES": {}, "ROBOTSTXT_OBEY": False},
        timeout=90,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(i["context"] for i in result.items) == ["a", "default"]
    assert all(i["boxes"] == 24 for i in result.items)
    assert result.stat("looqta/render/context_refused") == 1
    assert "browser context 'b' would be context 3 of PLAYWRIGHT_MAX_CONTEXTS=2" in result.stderr
