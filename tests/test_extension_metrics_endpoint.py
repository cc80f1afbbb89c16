"""Live metrics of a running crawl: Prometheus text and JSON status on loopback, registry, summary."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import pytest
import requests
from crawling import PROJECT_ROOT, TEST_CRAWL_SETTINGS, crawl_env, setting_args
from prometheus_client.parser import text_string_to_metric_families
from scrapy.settings import Settings
from twisted.web.test.requesthelper import DummyRequest

from looqta.crawl_snapshot import RateWindow
from looqta.extensions.metrics_endpoint import MetricsConfig, _Page, allowed_hosts
from looqta.ops.status import running_crawls

if TYPE_CHECKING:
    from pathlib import Path

    from looqta.sandbox.client import SandboxProcess

NAMED = {
    "looqta_pages_per_minute",
    "looqta_items_per_minute",
    "looqta_queue_manual",
    "looqta_queue_bulk",
    "looqta_active_jobs",
    "looqta_browser_pages_active",
    "looqta_browser_pages_available",
    "looqta_browser_utilisation",
    "looqta_system_cpu_percent",
    "looqta_system_memory_percent",
    "looqta_system_memory_available_bytes",
    "looqta_file_queue_pending",
    "looqta_file_workers_active",
    "looqta_file_workers_total",
}


def test_rate_window_counts_the_last_minute_only() -> None:
    window = RateWindow(window_seconds=60)
    for second, pages in ((0, 0), (30, 30), (60, 90), (90, 120)):
        window.add(float(second), pages, pages // 2)
    assert window.per_minute() == (90.0, 45.0)  # from t=30 (30 pages) to t=90 (120 pages)


@pytest.mark.parametrize(
    ("host", "answered"),
    [
        (b"127.0.0.1:8123", True),
        (b"localhost:8123", True),
        (b"LOCALHOST:8123", True),
        (b"[::1]:8123", True),
        (b"attacker.example:8123", False),  # DNS rebinding: the attacker's name, now on 127.0.0.1
        (b"127.0.0.1:80", False),
        (b"127.0.0.1", False),
        (b"localhost.attacker.example:8123", False),
        (None, False),
    ],
)
def test_only_a_loopback_host_header_is_answered(host: bytes | None, answered: bool) -> None:
    page = _Page(lambda: b"looqta_up 1\n", "text/plain", lambda: allowed_hosts(8123))
    request = DummyRequest([b"metrics"])
    if host is not None:
        request.requestHeaders.setRawHeaders(b"host", [host])
    body = page.render_GET(request)
    assert (body == b"looqta_up 1\n") is answered
    assert request.responseCode == (None if answered else 421)  # None: DummyRequest's 200


def test_the_endpoint_binds_loopback_only() -> None:
    assert MetricsConfig.from_settings(Settings()).host == "127.0.0.1"
    assert MetricsConfig.from_settings(Settings({"LOOQTA_METRICS_HOST": "::1"})).host == "::1"
    for host in ("0.0.0.0", "192.168.1.5", "::"):
        with pytest.raises(ValueError, match="must be a loopback address"):
            MetricsConfig.from_settings(Settings({"LOOQTA_METRICS_HOST": host}))


def test_a_running_crawl_serves_its_metrics_and_logs_a_summary(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    clean_sandbox.set_faults("noon", latency_ms=300, path_prefix="/uae-en/")  # a crawl of a few seconds
    settings = {
        **TEST_CRAWL_SETTINGS,
        "LOOQTA_DATA_DIR": str(tmp_path),
        "LOOQTA_METRICS_SAMPLE_INTERVAL_SECONDS": 0.5,
    }
    # With details, the product pages of each listing wait in the scheduler: a visible manual queue.
    command = [sys.executable, "-m", "scrapy", "crawl", "noon", "-a", "q=iphone", "-a", "max_pages=2",
               "-a", "details=1", "-a", f"base_url={clean_sandbox.url('noon')}",
               *setting_args(settings)]  # fmt: skip
    crawl = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=crawl_env(),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        seen: list[dict[str, Any]] = []
        # Read /metrics while pages are still queued: items wait for their images, so the last
        # ones arrive just before the crawl closes (and its server with it).
        while time.monotonic() < deadline and not (
            seen and seen[-1].get("queue_manual", 0) > 0 and seen[-1].get("pages_per_minute", 0) > 0
        ):
            seen += [c["status"] for c in running_crawls(tmp_path) if "status" in c]
            time.sleep(0.1)
        assert seen, "the crawl never showed up in the registry"
        status = seen[-1]
        (entry,) = running_crawls(tmp_path)
        assert entry["spider"] == "noon"
        assert entry["pid"] == crawl.pid
        assert entry["metrics_url"].startswith("http://127.0.0.1:")
        text = requests.get(entry["metrics_url"], timeout=5).text
        port = entry["metrics_url"].split(":")[2].split("/")[0]
        # Both requests go to 127.0.0.1; only the Host header differs (what a rebound name sends).
        foreign = requests.get(entry["metrics_url"], headers={"Host": f"attacker.example:{port}"}, timeout=5)
        assert (foreign.status_code, "looqta_" in foreign.text) == (421, False)
        local = requests.get(entry["metrics_url"], headers={"Host": f"localhost:{port}"}, timeout=5)
        assert local.status_code == 200
        families = {family.name: family for family in text_string_to_metric_families(text)}
        assert families.keys() >= NAMED
        pages = families["looqta_scrapy_stat"]
        assert any(s.labels["key"] == "response_received_count" and s.value > 0 for s in pages.samples)
        assert status["pages_per_minute"] > 0
        assert max(s["queue_manual"] for s in seen) > 0  # the crawl is a manual job (the default)
        assert {s["queue_bulk"] for s in seen} == {0}
        # Rendered pages come from the page pool's own counts: busy + free = its page limit (4).
        assert {s["browser_pages_active"] + s["browser_pages_available"] for s in seen} == {4}
        _, stderr = crawl.communicate(timeout=90)
    finally:
        if crawl.poll() is None:
            crawl.kill()
    assert crawl.returncode == 0, stderr[-3000:]
    assert "Run summary [noon, finished]: " in stderr
    assert running_crawls(tmp_path) == []  # unregistered at close
