"""The search service's pure parts (queries, cache freshness, results, settings) and its command line."""

from __future__ import annotations

import subprocess
import sys

import crawling
import httpx
import psutil
import pytest
from scrapy.settings import Settings
from test_spider_amazon import expected_offers as amazon_offers

from looqta.serve import cache
from looqta.serve.cache import CachedSearch
from looqta.serve.config import ServeConfig, ServeConfigError
from looqta.serve.query import BadQuery, checked, normalised, query_key
from looqta.serve.results import Progress, document, id_order, kept


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        (None, "empty"),
        ("   ", "empty"),
        ("x" * 201, "longer than 200"),
        ("iph\x00one", "control characters"),
        ("tv\nset", "control characters"),
        ("a\u202eb", "control characters"),
        ("https://evil.example/", "not a URL"),
        ("file:///etc/passwd", "not a URL"),
    ],
)
def test_bad_queries_are_refused_with_the_reason(query: str | None, reason: str) -> None:
    with pytest.raises(BadQuery, match=reason):
        checked(query, 200)


def test_a_query_is_trimmed_and_shared_by_its_normalised_form() -> None:
    assert checked("  iPhone   15 ", 200) == "iPhone 15"
    assert normalised("  iPhone   15 ") == normalised("iphone 15") == "iphone 15"
    assert query_key("IPHONE  15") == query_key("iphone 15") != query_key("iphone 16")
    assert checked("x" * 200, 200) == "x" * 200


def test_cache_state_is_hit_then_stale_then_miss() -> None:
    kept_search = CachedSearch("s1", "tv", finished_at=1000.0)
    assert cache.state(None, 1000.0, 900, 3600) == "miss"
    assert cache.state(kept_search, 1000.0 + 899, 900, 3600) == "hit"
    assert cache.state(kept_search, 1000.0 + 900, 900, 3600) == "stale"
    assert cache.state(kept_search, 1000.0 + 4500, 900, 3600) == "miss"
    entries = [("1-0", "offer", "amazon", {"price": "1.50"})]
    assert CachedSearch.decode(CachedSearch("s1", "tv", 5.0, entries).encode()).entries == entries


def test_results_keep_one_ending_per_site_and_the_last_delivery_only() -> None:
    progress = Progress(("amazon", "noon"))
    assert progress.accept("site-started", "amazon")
    assert progress.accept("site-failed", "noon")
    assert not progress.accept("site-done", "noon")  # after its timeout: ignored
    assert not progress.accept("offer", "elsewhere")
    assert not progress.finished
    assert progress.accept("site-done", "amazon")
    assert progress.finished
    entries = [
        ("1-0", "site-started", "amazon", {"attempt": 0}),
        ("2-0", "offer", "amazon", {"source_id": "a"}),
        ("3-0", "site-started", "amazon", {"attempt": 1}),
        ("4-0", "offer", "amazon", {"source_id": "b"}),
    ]
    assert [e[0] for e in kept(entries)] == ["3-0", "4-0"]
    assert id_order("10-2") > id_order("9-15")
    events = [
        ("search", {"id": "s"}),
        ("offer", {"site": "amazon", "source_id": "a"}),
        ("site-started", {"site": "amazon", "attempt": 1}),
        ("offer", {"site": "amazon", "source_id": "b"}),
        ("site-done", {"site": "amazon", "count": 1, "seconds": 0.5}),
    ]
    assert document(events) == {
        "search": {"id": "s"},
        "sites": {"amazon": {"status": "done", "count": 1, "seconds": 0.5}},
        "offers": [{"site": "amazon", "source_id": "b"}],
        "products": [],
    }


def test_settings_are_read_once_and_checked_together() -> None:
    config = ServeConfig.from_settings(
        Settings({"LOOQTA_SEARCH_SITES": "amazon", "LOOQTA_SEARCH_CACHE_SECONDS": "60"})
    )
    assert config.sites == ("amazon",)
    assert config.cache_seconds == 60.0
    with pytest.raises(ServeConfigError, match=r"SITE_TIMEOUT.*MAX_IN_FLIGHT"):
        ServeConfig.from_settings(
            Settings({"LOOQTA_SEARCH_MAX_IN_FLIGHT": 0, "LOOQTA_SEARCH_SITE_TIMEOUT_SECONDS": -1})
        )


def test_the_service_refuses_a_non_loopback_host_unless_told() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "looqta.serve", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "not loopback" in result.stderr


def test_the_service_with_its_own_sandbox_and_crawlers_answers_and_stops_them(redis_url: str) -> None:
    settings = {
        "LOOQTA_FILES_ENABLED": "False",
        "LOOQTA_THROTTLE_ENABLED": "False",
        "LOOQTA_SEARCH_SITES": "amazon",
    }
    command = [sys.executable, "-m", "looqta.serve", "--port", "0", "--sandbox"]
    command += [arg for name, value in settings.items() for arg in ("-s", f"{name}={value}")]
    env = {**crawling.crawl_env(), "REDIS_URL": redis_url}
    process = subprocess.Popen(command, cwd=crawling.PROJECT_ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("looqta search on http://127.0.0.1:"), line
        base = line.split()[-1].rstrip("/")
        children = psutil.Process(process.pid).children(recursive=True)
        assert any("warm=1" in " ".join(c.cmdline()) for c in children)
        document = httpx.get(f"{base}/api/search.json", params={"q": "iphone"}, timeout=60).json()
        assert document["sites"]["amazon"]["status"] == "done"
        assert {o["source_id"] for o in document["offers"]} == set(amazon_offers("iphone", 1))
    finally:
        process.terminate()
        code = process.wait(60)
    alive = [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]
    assert not alive, [c.cmdline() for c in alive]  # the sandbox and the crawlers stopped with the service
    assert code == 0


def test_the_service_socket_gets_tcp_nodelay_on_its_connections() -> None:
    """asyncio sets TCP_NODELAY only on sockets created as TCP; without it each kept-alive answer
    waited ~40 ms (found by benchmarks/search.py)."""
    import asyncio
    import socket

    from looqta.serve.__main__ import listening_socket

    async def accepted_nodelay() -> int:
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        with listening_socket("127.0.0.1", 0) as sock:
            server = await asyncio.start_server(connected, sock=sock)
            async with server:
                _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
                value = await asyncio.wait_for(seen, 5)
                writer.close()
        return value

    assert asyncio.run(accepted_nodelay()) != 0
