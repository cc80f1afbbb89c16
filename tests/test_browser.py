from __future__ import annotations

import asyncio
import contextlib
import os
import re
import stat
from pathlib import Path

import psutil
import pytest
from playwright.async_api import async_playwright
from scrapy.settings import Settings

from looqta.browser import (
    OFFLINE_ARGS,
    BrowserAddon,
    BrowserConfig,
    BrowserConfigError,
    find_chromium,
    should_abort_request,
)
from looqta.browser_user import DEFAULT_BROWSER_USER, browser_user


class FakeRequest:
    def __init__(self, resource_type: str) -> None:
        self.resource_type = resource_type


def test_chromium_found_on_path_without_configuration() -> None:
    found = find_chromium(None)
    assert os.access(found, os.X_OK)
    assert Path(found).name in {"chromium", "chromium-browser", "google-chrome"}


def test_configured_path_that_does_not_exist_fails_loudly(tmp_path: Path) -> None:
    with pytest.raises(BrowserConfigError, match="is not an executable file"):
        find_chromium(str(tmp_path / "nope"))


def test_more_contexts_than_max_contexts_refused_at_start() -> None:
    settings = Settings(
        {
            "PLAYWRIGHT_CONTEXTS": {"a": {}, "b": {}, "c": {}},
            "PLAYWRIGHT_MAX_CONTEXTS": 2,
            "PLAYWRIGHT_MAX_PAGES_PER_CONTEXT": 4,
        }
    )
    with pytest.raises(BrowserConfigError, match="wait forever"):
        BrowserConfig.from_settings(settings)


def project_settings(tmp_path: Path, **values: object) -> Settings:
    settings = Settings()
    settings.setmodule("looqta.settings", priority="project")
    settings.setdict({"LOOQTA_DATA_DIR": str(tmp_path), **values}, priority="cmdline")
    return settings


def test_addon_completes_launch_options_over_project_priority(tmp_path: Path) -> None:
    settings = project_settings(tmp_path, LOOQTA_BROWSER_USER="")
    settings.set("PLAYWRIGHT_LAUNCH_OPTIONS", {"args": ["--lang=en"]}, priority="project")
    BrowserAddon().update_settings(settings)
    options = settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS")
    assert options["executable_path"] == find_chromium(None)
    assert options["headless"] is True
    assert options["args"][0] == "--lang=en"
    assert set(OFFLINE_ARGS) <= set(options["args"])
    # No browser user: as root, Chromium only starts without its sandbox.
    assert ("--no-sandbox" in options["args"]) is (os.geteuid() == 0)


needs_root_and_browser_user = pytest.mark.skipif(
    os.geteuid() != 0 or browser_user(DEFAULT_BROWSER_USER) is None,
    reason="runs as root with the looqta-browser user only (deploy/bootstrap.sh creates it)",
)


@needs_root_and_browser_user
def test_as_root_chromium_runs_as_the_browser_user_with_its_sandbox(tmp_path: Path) -> None:
    settings = project_settings(tmp_path)
    BrowserAddon().update_settings(settings)
    options = settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS")
    assert "--no-sandbox" not in options["args"]
    wrapper = Path(options["executable_path"])
    assert wrapper.parent == tmp_path / "browser"
    assert stat.S_IMODE(wrapper.stat().st_mode) == 0o700
    user = browser_user(DEFAULT_BROWSER_USER)
    assert user is not None

    async def launch() -> list[tuple[int, str, str]]:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(**options)
            try:
                page = await browser.new_page()
                await page.set_content("<p id=x>rendered</p>")
                assert await page.inner_text("#x") == "rendered"
                found = []
                for process in psutil.Process().children(recursive=True):
                    with contextlib.suppress(psutil.Error):
                        if process.exe() == find_chromium(None) or "chromium" in process.name():
                            status = Path(f"/proc/{process.pid}/status").read_text()
                            seccomp = re.search(r"^Seccomp:\s*(\d)", status, re.MULTILINE)
                            kind = next((a for a in process.cmdline() if a.startswith("--type=")), "browser")
                            found.append(
                                (process.uids().effective, kind, seccomp.group(1) if seccomp else "?")
                            )
                return found
            finally:
                await browser.close()

    processes = asyncio.run(launch())
    assert processes, "no Chromium process found"
    assert {uid for uid, _, _ in processes} == {user.uid}  # none runs as root
    renderers = [seccomp for _, kind, seccomp in processes if kind == "--type=renderer"]
    assert renderers
    assert set(renderers) == {"2"}  # seccomp-bpf filter on: the renderer's sandbox is up


@pytest.mark.parametrize(
    ("kind", "aborted"),
    [
        ("image", True),
        ("font", True),
        ("media", True),
        ("document", False),
        ("script", False),
        ("xhr", False),
        ("fetch", False),
        ("stylesheet", False),
    ],
)
def test_heavy_resources_are_aborted(kind: str, aborted: bool) -> None:
    assert should_abort_request(FakeRequest(kind)) is aborted  # type: ignore[arg-type]
