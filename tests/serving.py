"""The search service for a test: uvicorn in a thread on a free loopback port, and an SSE reader."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import uvicorn
from warm_crawlers import wait_for

from looqta.serve.app import create_app

if TYPE_CHECKING:
    from collections.abc import Iterator

    from looqta.serve.config import ServeConfig


@contextlib.contextmanager
def running_service(config: ServeConfig) -> Iterator[str]:
    """``create_app(config)`` served on 127.0.0.1 (a free port); its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(create_app(config), log_level="warning", timeout_graceful_shutdown=2)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started or not thread.is_alive(), 20, "the service started")
        assert server.started
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


@dataclass
class Event:
    event: str
    id: str | None
    data: Any
    at: float = field(default_factory=time.monotonic)


@dataclass
class Read:
    events: list[Event]
    comments: int = 0

    def named(self, name: str) -> list[Event]:
        return [e for e in self.events if e.event == name]

    def offers(self) -> list[dict[str, Any]]:
        return [e.data for e in self.named("offer")]


def read_sse(
    base: str, query: str, *, headers: dict[str, str] | None = None, stop_after: int | None = None
) -> Read:
    """The events of ``GET /api/search?q=query`` until ``done`` (or ``stop_after`` offers: disconnect)."""
    read = Read([])
    fields: dict[str, str] = {}
    with (
        httpx.Client(timeout=httpx.Timeout(60.0)) as client,
        client.stream("GET", f"{base}/api/search", params={"q": query}, headers=headers) as response,
    ):
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith(":"):
                read.comments += 1
            elif line:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
            elif fields:
                event = Event(fields.get("event", "message"), fields.get("id"), json.loads(fields["data"]))
                read.events.append(event)
                fields = {}
                if event.event == "done" or (stop_after and len(read.named("offer")) >= stop_after):
                    break
    return read
