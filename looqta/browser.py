"""Browser set-up for scrapy-playwright: Debian's Chromium, headless, offline-safe.

:class:`BrowserAddon` is a Scrapy add-on: it runs once, after every setting
(``settings.py``, spider ``custom_settings``, ``-s``) is known, finds the
Chromium binary (``LOOQTA_CHROMIUM_PATH``, found on ``PATH`` when unset),
checks the browser limits cannot deadlock a crawl, and writes the resulting
``PLAYWRIGHT_LAUNCH_OPTIONS``: as root, Chromium runs as ``LOOQTA_BROWSER_USER`` with its
sandbox on (:mod:`looqta.browser_user`). Nothing here downloads a browser.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scrapy.settings import SETTINGS_PRIORITIES

from looqta.browser_user import DEFAULT_BROWSER_USER, browser_user, write_wrapper

if TYPE_CHECKING:
    from playwright.async_api import Request as PlaywrightRequest
    from scrapy.settings import BaseSettings

logger = logging.getLogger(__name__)

#: Binaries tried, in order, when ``LOOQTA_CHROMIUM_PATH`` is not set.
CHROMIUM_CANDIDATES: tuple[str, ...] = ("chromium", "chromium-browser", "google-chrome")

#: Flags that keep Chromium from calling home (this network is closed, and a
#: production crawler has no business talking to Google's update servers).
OFFLINE_ARGS: tuple[str, ...] = (
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
    "--disable-dev-shm-usage",
)

#: Resource types a rendered page never needs for scraping.
ABORTED_RESOURCE_TYPES: frozenset[str] = frozenset({"image", "font", "media"})


class BrowserConfigError(ValueError):
    """The browser settings cannot work; raised at start-up, never mid-crawl."""


def find_chromium(configured: str | None) -> str:
    """Return the Chromium executable to use, or raise with what to do about it."""
    if configured:
        path = Path(configured)
        if not path.is_file() or not os.access(path, os.X_OK):
            raise BrowserConfigError(
                f"LOOQTA_CHROMIUM_PATH={configured!r} is not an executable file; "
                "install Debian's Chromium (apt-get install -y chromium) or fix the path"
            )
        return str(path)
    for name in CHROMIUM_CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    tried = ", ".join(CHROMIUM_CANDIDATES)
    raise BrowserConfigError(
        f"No Chromium found on PATH (tried {tried}); install Debian's Chromium "
        "(apt-get install -y chromium) or set LOOQTA_CHROMIUM_PATH"
    )


def should_abort_request(request: PlaywrightRequest) -> bool:
    """``PLAYWRIGHT_ABORT_REQUEST``: drop images, fonts and media on rendered pages."""
    return request.resource_type in ABORTED_RESOURCE_TYPES


@dataclass(frozen=True)
class BrowserConfig:
    executable_path: str
    headless: bool
    extra_args: tuple[str, ...]
    contexts: tuple[str, ...]
    max_contexts: int
    max_pages_per_context: int
    #: What Playwright starts: Chromium, or the wrapper that starts it as the browser user.
    launcher: str = ""
    #: As root without a browser user, Chromium only starts with its sandbox off.
    sandbox_off: bool = False

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> BrowserConfig:
        contexts = tuple(settings.getdict("PLAYWRIGHT_CONTEXTS")) or ("default",)
        max_contexts = settings.getint("PLAYWRIGHT_MAX_CONTEXTS")
        max_pages = settings.getint("PLAYWRIGHT_MAX_PAGES_PER_CONTEXT")
        if max_contexts < 1:
            raise BrowserConfigError(f"PLAYWRIGHT_MAX_CONTEXTS must be >= 1, got {max_contexts}")
        if len(contexts) > max_contexts:
            raise BrowserConfigError(
                f"PLAYWRIGHT_CONTEXTS declares {len(contexts)} contexts but "
                f"PLAYWRIGHT_MAX_CONTEXTS is {max_contexts}: the crawl would wait forever "
                "for a context slot"
            )
        if max_pages < 1:
            raise BrowserConfigError(f"PLAYWRIGHT_MAX_PAGES_PER_CONTEXT must be >= 1, got {max_pages}")
        executable = find_chromium(settings.get("LOOQTA_CHROMIUM_PATH"))
        try:
            user = browser_user(settings.get("LOOQTA_BROWSER_USER", DEFAULT_BROWSER_USER) or "")
            wrapper_dir = Path(settings.get("LOOQTA_DATA_DIR") or ".looqta") / "browser"
            launcher = executable if user is None else write_wrapper(wrapper_dir, executable, user)
        except ValueError as exc:
            raise BrowserConfigError(str(exc)) from None
        running_as_root = hasattr(os, "geteuid") and os.geteuid() == 0
        return cls(
            executable_path=executable,
            launcher=launcher,
            sandbox_off=running_as_root and user is None,
            headless=settings.getbool("LOOQTA_BROWSER_HEADLESS", True),
            extra_args=tuple(settings.getlist("LOOQTA_BROWSER_ARGS")),
            contexts=contexts,
            max_contexts=max_contexts,
            max_pages_per_context=max_pages,
        )

    def launch_options(self, base: dict[str, Any]) -> dict[str, Any]:
        args = list(base.get("args", []))
        wanted = [*OFFLINE_ARGS, *self.extra_args]
        if self.sandbox_off:
            wanted.append("--no-sandbox")  # Chromium refuses to start as root otherwise
        args += [arg for arg in wanted if arg not in args]
        launcher = self.launcher or self.executable_path
        # Playwright passes --no-sandbox itself unless chromium_sandbox is set.
        sandbox = {"chromium_sandbox": not self.sandbox_off}
        return {**base, **sandbox, "executable_path": launcher, "headless": self.headless, "args": args}


class BrowserAddon:
    """Scrapy add-on wiring scrapy-playwright to a local Chromium."""

    def update_settings(self, settings: BaseSettings) -> None:
        if not settings.getbool("LOOQTA_BROWSER_ENABLED", True):
            return
        config = BrowserConfig.from_settings(settings)
        # Keep the priority of whoever set the base options (project, -s...),
        # so this completed copy is not ignored in their favour.
        priority = max(settings.getpriority("PLAYWRIGHT_LAUNCH_OPTIONS") or 0, SETTINGS_PRIORITIES["addon"])
        settings.set(
            "PLAYWRIGHT_LAUNCH_OPTIONS",
            config.launch_options(settings.getdict("PLAYWRIGHT_LAUNCH_OPTIONS")),
            priority=priority,
        )
        if config.sandbox_off:
            logger.warning(
                "Chromium runs as root WITHOUT its sandbox: no user %r to run it as "
                "(deploy/bootstrap.sh creates it; LOOQTA_BROWSER_USER)",
                settings.get("LOOQTA_BROWSER_USER", DEFAULT_BROWSER_USER),
            )
        logger.info(
            "Chromium for rendered pages: %s (started by %s)", config.executable_path, config.launcher
        )
