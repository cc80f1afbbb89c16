"""The throttle's actor on fakes: slots, page semaphores, context recycling, the file pool's resize."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from scrapy.core.downloader import Slot

from looqta.files.policy import PoolSample
from looqta.throttle.act import (
    Actor,
    DownloaderControl,
    FilePoolControl,
    PermitHolder,
    PlaywrightBrowser,
    PooledBrowser,
    SlotsOnlyBrowser,
    find_browser,
    find_files_pipeline,
)
from looqta.throttle.decide import Limits
from looqta.throttle.sampler import Sample

if TYPE_CHECKING:
    from collections.abc import Coroutine

    import pytest


def run(coroutine: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coroutine)


async def settle() -> None:
    """Let every ready task run (acquisitions, cancellations)."""
    for _ in range(5):
        await asyncio.sleep(0)


# downloader --------------------------------------------------------------------------------------


def test_total_and_slot_concurrency_follow_the_level_under_each_slot_own_ceiling() -> None:
    downloader = SimpleNamespace(total_concurrency=16, slots={"noon": Slot(8, 0.0), "amazon": Slot(2, 1.0)})
    control = DownloaderControl(downloader)  # type: ignore[arg-type]
    control.apply(3)
    assert downloader.total_concurrency == 3
    assert (downloader.slots["noon"].concurrency, downloader.slots["amazon"].concurrency) == (3, 2)
    control.apply(16)
    assert downloader.total_concurrency == 16
    assert (downloader.slots["noon"].concurrency, downloader.slots["amazon"].concurrency) == (8, 2)
    # An idle slot is dropped by Scrapy and re-created with its configured concurrency.
    control.apply(1)
    downloader.slots["noon"] = Slot(8, 0.0)
    control.apply(5)
    assert downloader.slots["noon"].concurrency == 5


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
        browser = PlaywrightBrowser([handler])
        browser.set_page_limit(3)  # ceil(3 / 2) = 2 pages each
        await settle()
        assert (first.semaphore._value, second.semaphore._value) == (2, 2)
        browser.set_page_limit(8)  # never over the context's own 4
        await settle()
        assert (first.semaphore._value, second.semaphore._value) == (4, 4)
        browser.set_page_limit(1)
        await settle()
        assert (first.semaphore._value, second.semaphore._value) == (1, 1)
        # A closed context is forgotten; a new one gets the limit on the next call.
        await second.context.close()
        third = handler.open_context("third")
        browser.set_page_limit(1)
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
        browser = PlaywrightBrowser([handler])
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
        browser = PlaywrightBrowser([handler])
        contexts = browser._wrappers()
        handler.context_wrappers.clear()  # the browser restarted
        assert await browser._recycle(contexts) == 0
        assert not wrapper.context.closed

    run(scenario())


# finding what to drive ------------------------------------------------------------------------


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


def test_pooled_handlers_are_told_their_page_limit_and_to_recycle() -> None:
    http, https = PooledHandler(), PooledHandler()
    browser = find_browser([object(), http, https])
    assert isinstance(browser, PooledBrowser)
    browser.set_page_limit(4)  # unchanged: not called
    browser.set_page_limit(2)
    assert (http.limits, https.limits) == ([2], [2])
    recycled = browser.recycle()
    assert recycled is not None
    assert (http.recycled, https.recycled) == (1, 1)


def test_plain_playwright_handlers_and_no_browser_at_all() -> None:
    handler = FakeHandler()
    found = find_browser([object(), handler])
    assert isinstance(found, PlaywrightBrowser)
    assert found.handlers == [handler]
    assert find_browser([object()]) is None


class FakeFilesPipeline:
    """The files pipeline's side of the seam: ``resize``, ``pool_sample`` and the file gate's."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.limits: list[int | None] = []
        self.pending, self.busy = 0, 0

    def limit_tasks(self, tasks: int | None) -> None:
        self.limits.append(tasks)

    def running_tasks(self) -> int:
        return self.busy

    def resize(self, workers: int) -> int:
        self.sizes.append(workers)
        return workers

    def pool_sample(self, at: float, cpu_percent: float) -> PoolSample:
        return PoolSample(at, self.pending, self.busy, cpu_percent)


def reading(at: float, cpu: float = 30.0) -> Sample:
    return Sample(
        at=at,
        cpu_percent=cpu,
        memory_percent=40.0,
        available_bytes=8 << 30,
        tree=None,
        loop_lag_seconds=0,
        loop_ticks=(),
    )


def test_the_files_pipeline_is_found_by_its_resize() -> None:
    pipeline = FakeFilesPipeline()
    assert find_files_pipeline([object(), pipeline]) is pipeline
    assert find_files_pipeline([object(), SimpleNamespace(resize=None)]) is None


def test_the_file_pool_follows_its_own_policy_under_the_level_cap() -> None:
    pipeline = FakeFilesPipeline()
    control = FilePoolControl(lambda: pipeline, maximum=4)
    control.apply(2, reading(0.0))  # the policy starts at the maximum: the cap rules
    control.apply(1, reading(1.0))  # the level drops: the cap wins at once
    control.apply(4, reading(2.0))  # and lifts: back to what the policy wants
    pipeline.pending = 50  # a long queue with the CPU free: the policy would grow...
    control.apply(4, reading(3.0))  # ...but it is at the maximum already
    pipeline.pending = 0
    for at in range(4, 35):  # idle for 30 s: the policy shrinks by one
        control.apply(4, reading(float(at)))
    assert pipeline.sizes == [2, 1, 4, 3]
    assert control.wanted == 3


def test_the_file_gate_is_passed_on_when_it_changes_and_reads_the_pipeline() -> None:
    pipeline = FakeFilesPipeline()
    control = FilePoolControl(lambda: pipeline, maximum=2)
    for tasks in (2, 2, 1, 0, 0, None):
        control.limit_tasks(tasks)
    assert pipeline.limits == [2, 1, 0, None]
    pipeline.busy, pipeline.pending = 2, 0
    control.apply(2, reading(0.0))
    assert (control.running(), control.waiting()) == (2, False)
    pipeline.pending = 7
    control.apply(2, reading(1.0))
    assert control.waiting()
    # A pipeline without the gate's methods: nothing applied, nothing running as far as it says.
    bare = FilePoolControl(lambda: SimpleNamespace(resize=lambda n: n), maximum=2)  # type: ignore[arg-type,return-value]
    bare.limit_tasks(0)
    assert (bare.tasks, bare.running()) == (None, 0)


def test_without_a_files_pipeline_nothing_is_resized() -> None:
    control = FilePoolControl(lambda: None, maximum=2)
    control.apply(2, reading(0.0))
    assert control.size is None


# the actor ---------------------------------------------------------------------------------------


def test_the_actor_applies_limits_resizes_the_pool_on_change_and_logs_the_fallback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    downloader = SimpleNamespace(total_concurrency=16, slots={"noon": Slot(8, 0.0)})
    pipeline = FakeFilesPipeline()
    actor = Actor(DownloaderControl(downloader), lambda: None, FilePoolControl(lambda: pipeline, maximum=2))  # type: ignore[arg-type]
    with caplog.at_level(logging.INFO, logger="looqta.throttle.act"):
        actor.apply(Limits(concurrency=4, browser_pages=1, file_workers=2))
        actor.apply(Limits(concurrency=4, browser_pages=1, file_workers=2))
        actor.apply(Limits(concurrency=2, browser_pages=1, file_workers=1))
    assert (downloader.total_concurrency, downloader.slots["noon"].concurrency) == (2, 2)
    assert pipeline.sizes == [2, 1]
    assert isinstance(actor.browser, SlotsOnlyBrowser)
    assert caplog.messages == [
        "Throttle: browser concurrency is limited through download slots only "
        "(no browser handler with page limits found)"
    ]
    assert actor.recycle() is None  # nothing to recycle


def test_the_actor_picks_up_a_browser_handler_created_later_and_recycles_once_at_a_time() -> None:
    pooled = PooledHandler()
    handlers: list[Any] = []
    actor = Actor(
        DownloaderControl(SimpleNamespace(total_concurrency=16, slots={})),  # type: ignore[arg-type]
        lambda: find_browser(handlers),
        FilePoolControl(lambda: None, maximum=2),
    )
    actor.apply(Limits(4, 1, 1))
    handlers.append(pooled)  # a lazy handler, created on the first request of its scheme
    actor.apply(Limits(4, 2, 1))
    assert pooled.limits == [2]
    assert actor.recycle() is not None
    assert pooled.recycled == 1
