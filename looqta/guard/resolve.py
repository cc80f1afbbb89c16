"""Host names to addresses without blocking the reactor, and the verdict on them, cached.

The resolver is injected: crawls use the event loop's ``getaddrinfo`` (a thread of the loop's
executor), tests a table, so no test ever asks a name server.
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import TYPE_CHECKING, Protocol

from looqta.guard.addresses import address_refusal

if TYPE_CHECKING:
    from collections.abc import Callable


class Resolver(Protocol):
    async def __call__(self, host: str) -> list[str]: ...


async def system_resolver(host: str) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6), through the running loop."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return sorted({str(info[4][0]) for info in infos})


class AddressCheck:
    """``await check.refusal(host)``: why no address of ``host`` may be reached, cached per host
    for ``ttl_seconds``. A name that resolves to nothing, or to any non-public address, is refused
    (one bad address is enough: the connection may pick it)."""

    def __init__(
        self, resolver: Resolver, ttl_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.resolver = resolver
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._verdicts: dict[str, tuple[float, str | None]] = {}

    async def refusal(self, host: str) -> str | None:
        now = self.clock()
        cached = self._verdicts.get(host)
        if cached is not None and cached[0] > now:
            return cached[1]
        verdict = await self._judge(host)
        self._verdicts[host] = (now + self.ttl_seconds, verdict)
        return verdict

    async def _judge(self, host: str) -> str | None:
        try:
            addresses = await self.resolver(host)
        except OSError:  # socket.gaierror: the name does not resolve
            return "unresolved"
        if not addresses:
            return "unresolved"
        return next(filter(None, map(address_refusal, addresses)), None)
