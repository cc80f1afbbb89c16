"""Hostile pages end to end: a crawl of pages that link local files, inline data and other loopback
ports fetches none of them (docs/security.md, "Hostile pages: the origin guard").

Only loopback traffic: the sandbox, a trap server started here, the crawl's metrics port.
"""

from __future__ import annotations

import http.server
import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from crawling import run_crawl

if TYPE_CHECKING:
    from collections.abc import Iterator

    from looqta.sandbox.client import SandboxProcess

PIPELINES = {
    "looqta.pipelines.validate.ValidationPipeline": 100,
    "looqta.pipelines.files.FilesPipeline": 300,
}
#: Sandbox origins an amazon crawl may reach; everything else the hostile pages name is refused.
ALLOWED = ("amazon", "amazon-cdn")


class Trap:
    """A throw-away HTTP server on loopback that records every request it gets."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        hits = self.hits

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                body = b"%PDF-1.4 trap"
                self.send_response(200)
                self.send_header("Content-Type", "application/pdf")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Trap:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def trap() -> Iterator[Trap]:
    with Trap() as server:
        yield server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def hostile_urls(sandbox: SandboxProcess, trap: Trap, metrics_port: int) -> list[str]:
    """What a hostile page links, each ending in ``.pdf`` as the spider's document links do."""
    return [
        "file:///etc/passwd#manual.pdf",
        "file:///dev/zero#manual.pdf",
        "data:application/pdf;base64,JVBERi0xLjQKJXRyYXA=#manual.pdf",
        f"http://127.0.0.1:{trap.port}/trap/manual.pdf",
        f"http://localhost:{trap.port}/trap/by-name.pdf",
        f"http://127.0.0.1:{metrics_port}/metrics#manual.pdf",
        sandbox.url("noon", "/documents/other-site.pdf"),
        sandbox.url("noon-cdn", "/documents/other-cdn.pdf"),
    ]


def assert_nothing_outside_was_fetched(sandbox: SandboxProcess, trap: Trap) -> None:
    assert trap.hits == []
    for other in set(sandbox.urls) - set(ALLOWED):
        assert sandbox.requests(other) == [], other


def test_a_hostile_page_crawl_fetches_nothing_outside_the_sites_origins(
    clean_sandbox: SandboxProcess, trap: Trap, tmp_path: Path
) -> None:
    metrics_port = free_port()
    urls = hostile_urls(clean_sandbox, trap, metrics_port)
    clean_sandbox.set_faults("amazon", hostile_urls=urls)
    files_dir = tmp_path / "files"
    result = run_crawl(
        "amazon",
        tmp_path,
        spider_args={"q": "iphone", "max_pages": 1, "base_url": clean_sandbox.url("amazon"), "details": 1},
        settings={
            "ITEM_PIPELINES": PIPELINES,
            "LOOQTA_FILES_DIR": str(files_dir),
            "LOOQTA_METRICS_PORT": metrics_port,
            "LOOQTA_RENDER_MODE": "http",
        },
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stats["finish_reason"] == "finished"
    assert_nothing_outside_was_fetched(clean_sandbox, trap)

    # the pages did carry the hostile links, the spider took them, and the guard refused them
    site_log = clean_sandbox.requests("amazon")
    assert any(entry["path_qs"].startswith("/__hostile__/redirect/") for entry in site_log)
    records = [record for item in result.items for record in item["files"]]
    assert result.items
    assert records
    cdn = clean_sandbox.url("amazon-cdn") + "/"
    assert {record["url"] for record in records} >= set(urls)
    for record in records:
        if record["status"] == "done":
            assert record["url"].startswith(cdn), record  # the product's own manual, its image
        elif "/__hostile__/redirect/" not in record["url"]:
            assert record["reason"].startswith("download: refused: origin guard refused"), record
    assert {record["url"] for record in records if record["status"] == "done"}.isdisjoint(urls)
    # a redirect passes the guard again: the site's redirects to the trap were refused there
    redirected = [record for record in records if "/__hostile__/redirect/" in record["url"]]
    assert any(f":{trap.port}/" in record["reason"] for record in redirected)
    assert all(record["status"] == "failed" for record in redirected)
    stats = result.stats
    assert stats["looqta/guard/refused/scheme"] >= 3  # file:///etc/passwd, file:///dev/zero, data:
    assert stats["looqta/guard/refused/origin"] >= 5  # trap, localhost, metrics, noon, noon-cdn

    # 0 bytes read from the local file system: nothing stored or extracted came from a file: URL
    passwd = Path("/etc/passwd").read_bytes()[:24]
    stored = [path for path in files_dir.rglob("*") if path.is_file()]
    assert not [path for path in stored if passwd in path.read_bytes()]
    assert "root:" not in result.feed.read_text()  # type: ignore[union-attr]


@pytest.mark.parametrize("pooled", [True, False], ids=["page-pool", "scrapy-playwright"])
def test_a_rendered_hostile_page_cannot_make_the_browser_fetch_elsewhere(
    clean_sandbox: SandboxProcess, trap: Trap, tmp_path: Path, pooled: bool
) -> None:
    # the page's script sends a synchronous XHR to each URL, and <img> tags name them too
    urls = [f"http://127.0.0.1:{trap.port}/xhr", clean_sandbox.url("noon", "/xhr")]
    clean_sandbox.set_faults("amazon", hostile_urls=urls)
    result = run_crawl(
        "amazon",
        tmp_path,
        spider_args={"q": "iphone", "max_pages": 1, "base_url": clean_sandbox.url("amazon")},
        settings={
            "LOOQTA_FILES_ENABLED": False,
            "LOOQTA_RENDER_MODE": "browser",
            "LOOQTA_PAGE_POOL_ENABLED": pooled,
            "ITEM_PIPELINES": {"looqta.pipelines.validate.ValidationPipeline": 100},
        },
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.items
    assert result.stats.get("playwright/request_count", 0) > 0  # it was rendered
    assert_nothing_outside_was_fetched(clean_sandbox, trap)
    assert result.stats["looqta/guard/refused/origin"] >= 2  # the browser's XHRs (images are too)


def test_the_hostile_fault_is_validated_and_puts_its_urls_where_crawlers_fetch() -> None:
    from looqta.sandbox import hostile
    from looqta.sandbox.faults import FaultConfig

    for bad in ("file:///etc/passwd", [1], ["x"] * (hostile.MAX_URLS + 1)):
        with pytest.raises(ValueError, match="hostile_urls"):
            FaultConfig.from_json({"hostile_urls": bad})
    page = '<body><img id="landingImage" data-old-hires="/i.jpg"><img class="s-image" src="/c.jpg"></body>'
    text = hostile.inject(page, ["file:///etc/passwd#m.pdf"], "/dp/X")
    assert 'data-old-hires="file:///etc/passwd#m.pdf"' in text
    assert '<img class="s-image" src="file:///etc/passwd#m.pdf"' in text
    assert 'href="/__hostile__/redirect/0/manual.pdf"' in text
    assert "XMLHttpRequest" in text
    moved = hostile.redirect("/__hostile__/redirect/0/manual.pdf", ["http://127.0.0.1:9/x"])
    assert moved is not None
    assert (moved.status, moved.headers["Location"]) == (302, "http://127.0.0.1:9/x")
    assert hostile.redirect("/dp/X", ["http://127.0.0.1:9/x"]) is None
