"""Start real warm crawlers (``scrapy crawl <site> -a warm=1``) for a test, and read search streams."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

from crawling import PROJECT_ROOT, TEST_CRAWL_SETTINGS, crawl_env, setting_args

from looqta.search import contract, queue

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import redis

START_TIMEOUT_SECONDS = 60.0
#: Short leases so a killed crawler's searches come back within seconds in a test.
WARM_TEST_SETTINGS: dict[str, Any] = {
    **TEST_CRAWL_SETTINGS,
    "LOOQTA_FILES_ENABLED": False,
    "LOOQTA_WARM_HEARTBEAT_SECONDS": 0.5,
    "LOOQTA_WARM_LEASE_SECONDS": 2.0,
}


def wait_for(predicate: Any, timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still not true after {timeout} s")
        time.sleep(interval)
    return result


@contextlib.contextmanager
def warm_crawler(
    site: str,
    base_url: str,
    redis_client: redis.Redis,
    redis_url: str,
    log: Path,
    settings: dict[str, Any] | None = None,
    pythonpath: tuple[Path, ...] = (),
) -> Iterator[subprocess.Popen[bytes]]:
    """A warm crawler process, yielded once it holds its lease in Redis; stopped (if alive) on exit."""
    known = set(redis_client.smembers(contract.crawlers_key(site)))
    command = [sys.executable, "-m", "scrapy", "crawl", site, "-a", "warm=1", "-a", f"base_url={base_url}"]
    command += setting_args({**WARM_TEST_SETTINGS, **(settings or {})})
    env = {**crawl_env(pythonpath), "REDIS_URL": redis_url}
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for(
            lambda: (
                process.poll() is not None or set(redis_client.smembers(contract.crawlers_key(site))) - known
            ),
            START_TIMEOUT_SECONDS,
            f"{site} warm crawler in Redis",
        )
        assert process.poll() is None, log.read_text()[-3000:]
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def stream(redis_client: redis.Redis, search_id: str) -> list[tuple[str, contract.StreamEntry]]:
    """The search's stream: (entry id, entry)."""
    return [
        (entry_id, contract.StreamEntry.from_fields(f)) for entry_id, f in queue.read(redis_client, search_id)
    ]


def ended(redis_client: redis.Redis, search_id: str) -> list[tuple[str, contract.StreamEntry]]:
    """The stream once it holds an ending entry, else []."""
    entries = stream(redis_client, search_id)
    return entries if any(e.event in ("site-done", "site-failed") for _, e in entries) else []


def entry_time(entry_id: str) -> float:
    """When Redis added a stream entry (its id's milliseconds)."""
    return int(entry_id.split("-")[0]) / 1000
