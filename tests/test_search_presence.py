"""The warm crawlers' live snapshots (looqta/search/presence.py) served by the search service at
``/api/crawlers`` and ``/healthz``: real warm crawler processes, redis-server, the sandbox."""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from serving import read_sse, running_service
from warm_crawlers import wait_for, warm_crawler

from looqta.redisstore.config import RedisConfig
from looqta.search import contract
from looqta.search.presence import presence_key
from looqta.serve.config import ServeConfig

if TYPE_CHECKING:
    from pathlib import Path

    import redis

    from looqta.sandbox.client import SandboxProcess

PRESENCE = {
    "LOOQTA_PRESENCE_INTERVAL_SECONDS": 0.5,
    "LOOQTA_PRESENCE_TTL_SECONDS": 2.0,
    # A dead crawler stays in the site's crawler set this long: it must vanish by its presence TTL.
    "LOOQTA_WARM_LEASE_SECONDS": 60.0,
}


def crawlers(base: str) -> dict[str, list[dict[str, Any]]]:
    return httpx.get(f"{base}/api/crawlers", timeout=10).json()["sites"]


@pytest.mark.serial  # the killed crawler must vanish within its TTL + 1 s of wall-clock time
def test_each_live_crawler_is_shown_with_its_work_and_a_killed_one_vanishes_after_the_ttl(
    clean_sandbox: SandboxProcess, redis_client: redis.Redis, redis_url: str, tmp_path: Path
) -> None:
    config = ServeConfig(
        redis=RedisConfig(url=redis_url),
        sites=("amazon", "noon"),
        max_pages=1,
        heartbeat_seconds=0.5,
        site_timeout_seconds=8.0,
        refresh_enabled=False,
    )
    amazon = clean_sandbox.urls["amazon"]
    with (
        warm_crawler("amazon", amazon, redis_client, redis_url, tmp_path / "a.log", PRESENCE) as first,
        warm_crawler("amazon", amazon, redis_client, redis_url, tmp_path / "b.log", PRESENCE) as second,
        running_service(config) as base,
    ):
        shown = wait_for(lambda: len((c := crawlers(base))["amazon"]) == 2 and c, 10, "two amazon crawlers")
        assert shown["noon"] == []
        assert {s["pid"] for s in shown["amazon"]} == {first.pid, second.pid}
        assert {s["state"] for s in shown["amazon"]} == {"idle"}
        assert all(
            time.time() - s["heartbeat_at"] < 2.0 and s["memory_rss_bytes"] > 0 for s in shown["amazon"]
        )
        health = httpx.get(f"{base}/healthz", timeout=10).json()
        assert health["crawlers"] == {"amazon": {"alive": 2, "busy": 0}, "noon": {"alive": 0, "busy": 0}}

        clean_sandbox.set_faults("amazon", latency_ms=2500)
        reads: list[Any] = []
        reading = threading.Thread(target=lambda: reads.append(read_sse(base, "camera")), daemon=True)
        reading.start()
        busy = wait_for(
            lambda: [s for s in crawlers(base)["amazon"] if s["state"] == "busy"], 10, "a busy crawler"
        )
        [working] = busy
        assert [(s["query"], s["kind"]) for s in working["searches"]] == [("camera", "manual")]
        assert working["in_flight"] >= 1
        pages_before = working["pages"]
        clean_sandbox.clear_faults("amazon")
        reading.join(60)  # noon has no crawler: its site times out, amazon's is done
        after = wait_for(
            lambda: next(
                (s for s in crawlers(base)["amazon"] if s["pid"] == working["pid"] and s["state"] == "idle"),
                None,
            ),
            10,
            "the crawler idle again",
        )
        assert after["pages"] > pages_before
        [read] = reads
        assert after["items"] == len(read.offers()) > 0
        assert after["metrics"]["spider"] == "amazon"

        killed = first if working["pid"] == first.pid else second
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait(10)
        killed_at = time.monotonic()
        [left] = wait_for(
            lambda: len(c := crawlers(base)["amazon"]) == 1 and c, 10, "the killed crawler gone"
        )
        assert time.monotonic() - killed_at <= PRESENCE["LOOQTA_PRESENCE_TTL_SECONDS"] + 1.0
        assert left["pid"] != killed.pid
        dead = set(redis_client.smembers(contract.crawlers_key("amazon"))) - {left["crawler"]}
        assert len(dead) == 1  # still listed in the site's set: gone from the page by its TTL alone
        health = httpx.get(f"{base}/healthz", timeout=10).json()
        assert health["crawlers"]["amazon"] == {"alive": 1, "busy": 0}

        survivor = second if killed is first else first
        survivor.terminate()
        survivor.wait(30)
        # A crawler that stops cleanly deletes its snapshot at once (no TTL to wait for).
        assert not redis_client.exists(presence_key("amazon", left["crawler"]))
        assert crawlers(base)["amazon"] == []
