"""Live metrics of a running crawl: Prometheus text and JSON status on loopback, registry, summary."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any

import psutil
import pytest
import requests
from crawling import PROJECT_ROOT, TEST_CRAWL_SETTINGS, crawl_env, setting_args
from mongo_fixtures import wait_for
from prometheus_client.parser import text_string_to_metric_families
from scrapy.settings import Settings
from twisted.web.test.requesthelper import DummyRequest

from looqta import settings as shipped_settings
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


# --- The loopback check: LOOQTA_METRICS_HOST must be a loopback address -------------------------
# Guards: the metrics endpoint (crawl stats, queue sizes, its own URLs) is never offered to the
# network. MetricsConfig.from_settings is the check, tested as a pure function: nothing listens.


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "::1"])
def test_the_metrics_endpoint_accepts_a_loopback_host(host: str) -> None:
    assert MetricsConfig.from_settings(Settings({"LOOQTA_METRICS_HOST": host})).host == host


def test_the_shipped_metrics_host_is_loopback() -> None:
    settings = Settings()
    settings.setmodule(shipped_settings)
    assert ipaddress.ip_address(MetricsConfig.from_settings(settings).host).is_loopback


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "10.0.0.1", "203.0.113.7", "fe80::1"])
def test_the_metrics_endpoint_refuses_a_host_off_loopback(host: str) -> None:
    with pytest.raises(ValueError, match="LOOQTA_METRICS_HOST must be a loopback address"):
        MetricsConfig.from_settings(Settings({"LOOQTA_METRICS_HOST": host}))


def test_the_metrics_endpoint_refuses_a_host_name() -> None:
    # A name may resolve to any address: only a literal loopback address is taken.
    with pytest.raises(ValueError, match=r"metrics\.example"):
        MetricsConfig.from_settings(Settings({"LOOQTA_METRICS_HOST": "metrics.example"}))


def amazon_crawl(sandbox: SandboxProcess, data_dir: Path, **settings: Any) -> subprocess.Popen[str]:
    all_settings = {**TEST_CRAWL_SETTINGS, "LOOQTA_DATA_DIR": str(data_dir), **settings}
    command = [sys.executable, "-m", "scrapy", "crawl", "amazon", "-a", "q=iphone", "-a", "max_pages=1",
               "-a", f"base_url={sandbox.url('amazon')}", *setting_args(all_settings)]  # fmt: skip
    return subprocess.Popen(
        command, cwd=PROJECT_ROOT, env=crawl_env(),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_a_crawl_serves_its_metrics_on_loopback_only(clean_sandbox: SandboxProcess, tmp_path: Path) -> None:
    # End to end with the shipped LOOQTA_METRICS_HOST: the crawl listens on 127.0.0.1 (not on every
    # address) and answers there.
    clean_sandbox.set_faults("amazon", latency_ms=3000, path_prefix="/s")  # the crawl stays up ~3 s
    crawl = amazon_crawl(clean_sandbox, tmp_path)
    try:
        registry = tmp_path / "crawls"
        entries = wait_for(lambda: [json.loads(p.read_text()) for p in registry.glob("*.json")], timeout=60)
        (entry,) = entries
        port = int(entry["status_url"].split(":")[2].split("/")[0])
        listening = [
            c.laddr
            for c in psutil.Process(crawl.pid).net_connections(kind="inet")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port
        ]
        assert [address.ip for address in listening] == ["127.0.0.1"]
        answer = requests.get(f"http://127.0.0.1:{port}/status.json", timeout=5)
        assert answer.status_code == 200
        assert "pages_per_minute" in answer.json()
        _, stderr = crawl.communicate(timeout=90)
    finally:
        if crawl.poll() is None:
            crawl.kill()
            crawl.wait()
    assert crawl.returncode == 0, stderr[-3000:]


def test_a_crawl_asked_to_serve_its_metrics_off_loopback_does_not_start(
    clean_sandbox: SandboxProcess, tmp_path: Path
) -> None:
    # End to end: a non-loopback LOOQTA_METRICS_HOST stops the crawl before it listens or fetches.
    # 192.0.2.1 (a documentation address, not this machine's): were the check gone, the bind would
    # fail rather than open a port to the network (0.0.0.0 is in the unit test above).
    crawl = amazon_crawl(clean_sandbox, tmp_path, LOOQTA_METRICS_HOST="192.0.2.1")
    _, stderr = crawl.communicate(timeout=90)
    assert crawl.returncode != 0
    assert "LOOQTA_METRICS_HOST must be a loopback address, got '192.0.2.1'" in stderr
    assert not list((tmp_path / "crawls").glob("*.json"))
    assert clean_sandbox.requests("amazon") == []
