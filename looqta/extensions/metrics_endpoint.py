"""The loopback HTTP endpoint of a running crawl's metrics: Prometheus ``/metrics`` and ``/status.json``.

Listens on ``LOOQTA_METRICS_HOST``:``LOOQTA_METRICS_PORT`` (loopback only) on the reactor, answers
only requests whose ``Host`` names loopback and that port (a page in a browser whose own host name
was rebound to 127.0.0.1 gets 421: DNS rebinding), and registers the crawl in
``<LOOQTA_DATA_DIR>/crawls/`` so ``python -m looqta.ops status`` finds it; the values come from
:mod:`looqta.crawl_snapshot`. Logs the one-line run summary at spider close.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.asyncio import create_looping_call
from twisted.web.resource import Resource
from twisted.web.server import Site

from looqta.crawl_snapshot import LooqtaCollector, RateWindow, snapshot

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Self

    from scrapy import Spider
    from scrapy.crawler import Crawler
    from scrapy.settings import BaseSettings
    from twisted.internet.interfaces import IListeningPort
    from twisted.web.server import Request

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MetricsConfig:
    enabled: bool
    host: str
    port: int
    sample_interval_seconds: float
    registry_dir: Path

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> MetricsConfig:
        host = settings.get("LOOQTA_METRICS_HOST", "127.0.0.1")
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"LOOQTA_METRICS_HOST must be a loopback address, got {host!r}")
        port = settings.getint("LOOQTA_METRICS_PORT", 0)
        if not 0 <= port < 65536:
            raise ValueError(f"LOOQTA_METRICS_PORT must be 0-65535, got {port}")
        interval = settings.getfloat("LOOQTA_METRICS_SAMPLE_INTERVAL_SECONDS", 5.0)
        if interval <= 0:
            raise ValueError("LOOQTA_METRICS_SAMPLE_INTERVAL_SECONDS must be > 0")
        return cls(
            enabled=settings.getbool("LOOQTA_METRICS_ENABLED", True),
            host=host,
            port=port,
            sample_interval_seconds=interval,
            registry_dir=Path(settings.get("LOOQTA_DATA_DIR", ".looqta")) / "crawls",
        )


def allowed_hosts(port: int) -> frozenset[bytes]:
    """The ``Host`` values a request to the endpoint on ``port`` may carry: loopback names only."""
    return frozenset(f"{name}:{port}".encode() for name in ("127.0.0.1", "localhost", "[::1]"))


class _Page(Resource):
    isLeaf = True

    def __init__(self, render: object, content_type: str, hosts: Callable[[], frozenset[bytes]]) -> None:
        super().__init__()
        self._render = render
        self._content_type = content_type
        self._hosts = hosts

    def render_GET(self, request: Request) -> bytes:
        host = (request.getHeader(b"host") or b"").lower()
        if host not in self._hosts():
            request.setResponseCode(421)  # Misdirected Request
            request.setHeader(b"Content-Type", b"text/plain")
            return b"this endpoint answers to 127.0.0.1, localhost and [::1] on its own port only\n"
        request.setHeader(b"Content-Type", self._content_type.encode())
        return self._render()  # type: ignore[operator,no-any-return]


class MetricsEndpoint:
    def __init__(self, crawler: Crawler) -> None:
        self.config = MetricsConfig.from_settings(crawler.settings)
        if not self.config.enabled:
            raise NotConfigured("LOOQTA_METRICS_ENABLED is off")
        self.crawler = crawler
        self.rates = RateWindow()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(LooqtaCollector(crawler, self.rates))  # type: ignore[arg-type]
        self.port: IListeningPort | None = None
        self.registration: Path | None = None
        self.started = time.monotonic()
        self.sampler = create_looping_call(self._sample)
        crawler.signals.connect(self._spider_opened, signal=signals.spider_opened)
        crawler.signals.connect(self._spider_closed, signal=signals.spider_closed)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def _sample(self) -> None:
        stats = self.crawler.stats
        self.rates.add(
            time.monotonic(),
            stats.get_value("response_received_count", 0),
            stats.get_value("item_scraped_count", 0),
        )

    def _status_json(self) -> bytes:
        return json.dumps(snapshot(self.crawler, self.rates), default=str).encode()

    def _hosts(self) -> frozenset[bytes]:
        return allowed_hosts(self.port.getHost().port) if self.port is not None else frozenset()

    def _metrics(self) -> bytes:
        return generate_latest(self.registry)

    def _spider_opened(self, spider: Spider) -> None:
        from twisted.internet import reactor

        root = Resource()
        root.putChild(b"metrics", _Page(self._metrics, CONTENT_TYPE_LATEST, self._hosts))
        root.putChild(b"status.json", _Page(self._status_json, "application/json", self._hosts))
        self.port = reactor.listenTCP(self.config.port, Site(root), interface=self.config.host)  # type: ignore[attr-defined]
        port = self.port.getHost().port
        base = f"http://{self.config.host}:{port}"
        self.crawler.stats.set_value("looqta/metrics/port", port)
        self.sampler.start(self.config.sample_interval_seconds, now=True)
        self.config.registry_dir.mkdir(parents=True, exist_ok=True)
        self.registration = self.config.registry_dir / f"{os.getpid()}-{spider.name}.json"
        self.registration.write_text(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "spider": spider.name,
                    "job": getattr(getattr(spider, "args", None), "job", None),
                    "metrics_url": f"{base}/metrics",
                    "status_url": f"{base}/status.json",
                    "started_at": time.time(),
                }
            )
        )
        logger.info("Live metrics: %s/metrics and %s/status.json", base, base, extra={"spider": spider})

    def _spider_closed(self, spider: Spider, reason: str) -> None:
        if self.sampler.running:
            self.sampler.stop()
        if self.registration is not None:
            self.registration.unlink(missing_ok=True)
        if self.port is not None:
            self.port.stopListening()
        get = self.crawler.stats.get_value
        logger.info(
            "Run summary [%s, %s]: %d pages (%d rendered, %d plain), %d items, %d dropped, "
            "files %d done / %d failed, %.1f s, %s",
            spider.name,
            reason,
            get("response_received_count", 0),
            get("looqta/render/browser", 0),
            get("looqta/render/http", 0),
            get("item_scraped_count", 0),
            get("item_dropped_count", 0),
            get("looqta/files/done", 0),
            get("looqta/files/failed", 0),
            time.monotonic() - self.started,
            get("looqta/health/summary", "health: not judged"),  # looqta.health, at spider close
            extra={"spider": spider},
        )
