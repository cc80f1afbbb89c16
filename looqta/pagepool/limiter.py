"""How many browser pages may render at once, a limit that can change while pages render.

An ``asyncio.Semaphore`` cannot shrink: :class:`PageLimiter` is a first-come,
first-served counter whose limit is set at run time. Raising the limit lets
waiting renders start at once; lowering it never interrupts a page that is
rendering, new renders simply wait until the count is under the new limit.
"""

from __future__ import annotations

import asyncio
from collections import deque
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


def checked_limit(limit: int) -> int:
    """``limit`` if it is a usable page limit (an int >= 1); ``ValueError`` otherwise."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"a page limit must be an int >= 1, got {limit!r}")
    return limit


class PageLimiter:
    def __init__(self, limit: int) -> None:
        self._limit = checked_limit(limit)
        self._in_use = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def in_use(self) -> int:
        return self._in_use

    @property
    def waiting(self) -> int:
        return sum(1 for waiter in self._waiters if not waiter.done())

    def set_limit(self, limit: int) -> None:
        self._limit = checked_limit(limit)
        self._wake()

    async def acquire(self) -> None:
        if self._in_use < self._limit and not self._waiters:
            self._in_use += 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # granted just as the caller gave up: hand it on
            else:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        if self._in_use <= 0:
            raise RuntimeError("PageLimiter released more often than acquired")
        self._in_use -= 1
        self._wake()

    @asynccontextmanager
    async def permit(self) -> AsyncIterator[None]:
        await self.acquire()
        try:
            yield
        finally:
            self.release()

    def _wake(self) -> None:
        while self._waiters and self._in_use < self._limit:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._in_use += 1
                waiter.set_result(None)
