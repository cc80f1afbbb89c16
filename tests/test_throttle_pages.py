"""The rendered-pages controls on fakes: page semaphores, context recycling, the page pool's limit."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from looqta.throttle.pages import PermitHolder, PlaywrightPages, PooledPages

if TYPE_CHECKING:
    from collections.abc import Coroutine


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coroutine)


async def settle() -> None:
    """Let every ready task run (acquisitions, cancellations)."""
    for _ in range(5):
        await asyncio.sleep(0)


# page permits ------------------------------------------------------------------------------------


def test_permits_are_held_and_given_back() -> None:
    async def scenario() -> None:
        semaphore = asyncio.Semaphore(4)
        holder = PermitHolder(semaphore)
        holder.hold(3)
        await settle()
        assert semaphore._value == 1
        holder.hold(1)
        await settle()
        assert semaphore._value == 3
        holder.hold(0)
        await settle()
        assert semaphore._value == 4

    run(scenario())


def test_a_permit_still_queued_for_is_cancelled_and_none_is_lost() -> None:
    async def scenario() -> None:
        semaphore = asyncio.Semaphore(1)
        await semaphore.acquire()  # a page is open
        holder = PermitHolder(semaphore)
        holder.hold(1)  # queued behind it
        await settle()
        assert not await holder.all_taken(timeout=0.01)
        holder.hold(0)
        semaphore.release()  # the page closes
        await settle()
        assert semaphore._value == 1
        assert not semaphore.locked()

    run(scenario())


# plain scrapy-playwright -------------------------------------------------------------------------


class FakeContext:
    def __init__(self, handler: FakeHandler, name: str) -> None:
        self.handler, self.name = handler, name
        self.closed = False

    async def close(self) -> None:
        self.closed = True
        self.handler.context_wrappers.pop(self.name, None)  # scrapy-playwright's close callback


@dataclass
class FakeWrapper:
    context: FakeContext
    semaphore: asyncio.Semaphore
    persistent: bool = False


@dataclass
class FakeHandler:
    max_pages: int = 4
    context_wrappers: dict[str, FakeWrapper] = field(default_factory=dict)
    context_launch_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def config(self) -> SimpleNamespace:
        return SimpleNamespace(max_pages_per_context=self.max_pages)

    def open_context(self, name: str, persistent: bool = False) -> FakeWrapper:
        wrapper = FakeWrapper(FakeContext(self, name), asyncio.Semaphore(self.max_pages), persistent)
        self.context_wrappers[name] = wrapper
        return wrapper


def test_the_page_limit_is_spread_over_the_open_contexts() -> None:
    async def scenario() -> None:
        handler = FakeHandler()
        first, second = handler.open_context("default"), handler.open_context("other")
        browser = PlaywrightPages([handler])
        browser.apply(3, None)  # ceil(3 / 2) = 2 pages each
        await settle()
        assert (first.semaphore._value, second.semaphore._value) == (2, 2)
        browser.apply(8, None)  # never over the context's own 4
        await settle()
        assert (first.semaphore._value, second.semaphore._value) == (4, 4)
        browser.apply(1, None)
        await settle()
        assert (first.semaphore._value, second.semaphore._value) == (1, 1)
        # A closed context is forgotten; a new one gets the limit on the next call.
        await second.context.close()
        third = handler.open_context("third")
        browser.apply(1, None)
        await settle()
        assert third.semaphore._value == 1
        assert len(browser.holders) == 2
        browser.close()  # the crawl ends: every permit goes back
        await settle()
        assert (first.semaphore._value, third.semaphore._value) == (4, 4)

    run(scenario())


def test_recycling_drains_a_context_closes_it_and_lets_queued_requests_move_on() -> None:
    async def scenario() -> None:
        handler = FakeHandler(max_pages=2)
        old = handler.open_context("default")
        persistent = handler.open_context("profile", persistent=True)
        browser = PlaywrightPages([handler])
        await old.semaphore.acquire()  # a page in flight
        recycling = asyncio.ensure_future(browser._recycle(browser._wrappers()[:1]))
        await settle()
        # Draining: the free permit is taken, so no new page starts in the old context...
        queued = asyncio.ensure_future(old.semaphore.acquire())
        await settle()
        assert not queued.done()
        # ...and it is not closed while its page is open.
        assert not old.context.closed
        old.semaphore.release()  # the page finishes
        assert await recycling == 1
        assert old.context.closed
        assert "default" not in handler.context_wrappers
        # The request queued on the old context gets a permit (and, in scrapy-playwright, a
        # TargetClosedError retry in a fresh context): it is not left waiting forever.
        await settle()
        assert queued.done()
        assert browser.holders == {}
        assert browser.draining == set()
        assert not persistent.context.closed

    run(scenario())


def test_recycling_a_context_that_closed_meanwhile_does_nothing() -> None:
    async def scenario() -> None:
        handler = FakeHandler()
        wrapper = handler.open_context("default")
        browser = PlaywrightPages([handler])
        contexts = browser._wrappers()
        handler.context_wrappers.clear()  # the browser restarted
        assert await browser._recycle(contexts) == 0
        assert not wrapper.context.closed

    run(scenario())


# the page pool ----------------------------------------------------------------------------------


class PooledHandler:
    def __init__(self) -> None:
        self.page_limit = 4
        self.limits: list[int] = []
        self.recycled = 0

    def set_page_limit(self, pages: int) -> None:
        self.limits.append(pages)
        self.page_limit = pages

    def recycle_contexts(self) -> None:
        self.recycled += 1


def test_a_pooled_handler_is_told_its_page_limit_when_it_changes_and_to_recycle() -> None:
    handler = PooledHandler()
    control = PooledPages(handler)  # type: ignore[arg-type]
    assert control.description == "the page limit of PooledHandler"
    control.apply(4, None)  # unchanged: not called
    control.apply(2, None)
    assert (handler.limits, control.level) == ([2], 2)
    assert control.recycle() is not None
    assert handler.recycled == 1
