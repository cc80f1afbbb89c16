"""``--sandbox``: the sandbox and one warm crawler per site pointed at it, stopped with the service."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import redis

from looqta.sandbox.client import PROJECT_ROOT, SandboxProcess
from looqta.sandbox.profile import SANDBOX_SETTINGS
from looqta.search import contract

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

START_TIMEOUT_SECONDS = 90.0


class CrawlerStartError(RuntimeError):
    pass


def crawler_command(site: str, urls: dict[str, str], settings: dict[str, Any]) -> list[str]:
    """``scrapy crawl <site> -a warm=1 -a base_url=...`` (and the site's CDN when the sandbox has one)."""
    command = [sys.executable, "-m", "scrapy", "crawl", site, "-a", "warm=1", "-a", f"base_url={urls[site]}"]
    if f"{site}-cdn" in urls:
        command += ["-a", f"cdn_url={urls[f'{site}-cdn']}"]
    for name, value in {**SANDBOX_SETTINGS, **settings}.items():
        command += ["-s", f"{name}={_setting_text(value)}"]
    return command


@contextlib.contextmanager
def sandboxed_crawlers(
    sites: tuple[str, ...], redis_url: str, log_dir: Path, settings: dict[str, Any] | None = None
) -> Iterator[SandboxProcess]:
    """The sandbox, and a warm crawler per site pointed at it (with ``settings``); all stopped on exit."""
    with SandboxProcess() as sandbox, warm_crawlers(sites, sandbox.urls, redis_url, log_dir, settings):
        yield sandbox


@contextlib.contextmanager
def warm_crawlers(
    sites: tuple[str, ...],
    urls: dict[str, str],
    redis_url: str,
    log_dir: Path,
    settings: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """A warm crawler per site (``urls``: the sandbox's), yielded once each is registered in Redis."""
    log_dir.mkdir(parents=True, exist_ok=True)
    processes: list[subprocess.Popen[bytes]] = []
    with redis.Redis.from_url(redis_url) as client:
        known = {site: client.smembers(contract.crawlers_key(site)) for site in sites}
        try:
            for site in sites:
                with (log_dir / f"{site}.log").open("wb") as log:
                    processes.append(
                        subprocess.Popen(
                            crawler_command(site, urls, settings or {}),
                            cwd=PROJECT_ROOT,
                            env={**_crawler_env(redis_url), **(env or {})},
                            stdout=log,
                            stderr=subprocess.STDOUT,
                        )
                    )
            _wait_registered(client, sites, known, processes, log_dir)
            yield processes
        finally:
            _stop(processes)


def _wait_registered(
    client: redis.Redis, sites: tuple[str, ...], known: dict[str, Any], processes: list[Any], log_dir: Path
) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    waiting = set(sites)
    while waiting:
        for site, process in zip(sites, processes, strict=True):
            if process.poll() is not None:
                raise CrawlerStartError(f"the {site} crawler exited; see {log_dir / f'{site}.log'}")
        waiting = {s for s in waiting if not client.smembers(contract.crawlers_key(s)) - known[s]}
        if time.monotonic() > deadline:
            raise CrawlerStartError(
                f"warm crawlers not up after {START_TIMEOUT_SECONDS} s: {sorted(waiting)}"
            )
        time.sleep(0.2)


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _crawler_env(redis_url: str) -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "REDIS_URL": redis_url}


def _setting_text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (dict, list, bool)) else str(value)
