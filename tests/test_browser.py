from __future__ import annotations

import os
from pathlib import Path

import pytest
from scrapy.settings import Settings

from looqta.browser import (
    OFFLINE_ARGS,
    BrowserAddon,
    BrowserConfig,
    BrowserConfigError,
    find_chromium,
    should_abort_request,
)


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


def test_addon_completes_launch_options_over_project_priority() -> None:
    settings = Settings()
    settings.setmodule("looqta.settings", priority="project")
    settings.set("PLAYWRIGHT_LAUNCH_OPTIONS", {"args": ["--lang=en"]}, priority="project")
    BrowserAddon().update_settings(settings)
    options = settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS")
    assert options["executable_path"] == find_chromium(None)
    assert options["headless"] is True
    assert options["args"][0] == "--lang=en"
    assert set(OFFLINE_ARGS) <= set(options["args"])
    if os.geteuid() == 0:
        assert "--no-sandbox" in options["args"]


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
