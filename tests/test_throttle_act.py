"""The throttle's actor: it keeps the controls components register and applies limits to them."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from scrapy.core.downloader import Slot
from test_throttle_file_workers import reading
from twisted.internet.defer import Deferred

from looqta.throttle.act import Actor
from looqta.throttle.decide import Limits
from looqta.throttle.downloader import DownloadSlots
from looqta.throttle.file_workers import FileWorkers

if TYPE_CHECKING:
    import pytest

    from looqta.throttle.controls import Follows
    from looqta.throttle.sampler import Sample


class FakeControl:
    """A control that records what it is told."""

    def __init__(self, follows: Follows, description: str = "a fake") -> None:
        self.follows = follows
        self.description = description
        self.applied: list[tuple[int, Sample | None]] = []
        self.recycling: Deferred[Any] | None = None
        self.closed = False

    @property
    def level(self) -> int | None:
        return self.applied[-1][0] if self.applied else None

    def apply(self, level: int, sample: Sample | None) -> None:
        self.applied.append((level, sample))

    def recycle(self) -> Deferred[Any] | None:
        return self.recycling

    def close(self) -> None:
        self.closed = True


# the download slots ------------------------------------------------------------------------------


def test_total_and_slot_concurrency_follow_the_level_under_each_slot_own_ceiling() -> None:
    downloader = SimpleNamespace(total_concurrency=16, slots={"noon": Slot(8, 0.0), "amazon": Slot(2, 1.0)})
    control = DownloadSlots(downloader)  # type: ignore[arg-type]
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
    assert control.level == 5


# the actor ---------------------------------------------------------------------------------------


def test_each_control_gets_the_limit_it_follows_and_the_regular_checks_sample() -> None:
    actor = Actor()
    slots, pages = FakeControl("concurrency"), FakeControl("browser_pages")
    files = FakeControl("file_workers")
    for control in (slots, pages, files):
        actor.add(control)
    assert slots.applied == []  # nothing applied before the engine starts
    actor.apply(Limits(concurrency=8, browser_pages=3, file_workers=2))
    sample = reading(1.0)
    actor.apply(Limits(concurrency=4, browser_pages=2, file_workers=1), sample)
    assert slots.applied == [(8, None), (4, sample)]
    assert pages.applied == [(3, None), (2, sample)]
    assert files.applied == [(2, None), (1, sample)]
    actor.close()
    assert [slots.closed, pages.closed, files.closed] == [True, True, True]


def test_a_control_registered_after_the_start_gets_the_current_limits_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    actor = Actor()
    with caplog.at_level(logging.INFO, logger="looqta.throttle.act"):
        actor.apply(Limits(4, 2, 1))
        actor.apply(Limits(4, 2, 1), reading(1.0))  # the first regular check: no browser control yet
        pages = FakeControl("browser_pages", "the page limit of a fake")
        actor.add(pages)  # a handler announced late
        actor.add(FakeControl("browser_pages", "the page limit of a fake"))  # its https twin
        actor.apply(Limits(4, 2, 1), reading(2.0))
    assert pages.applied[0] == (2, None)
    assert caplog.messages == [
        "Throttle: browser concurrency is limited through download slots only "
        "(no browser handler with page limits found)",
        "Throttle: browser concurrency is applied to the page limit of a fake",
    ]


def test_recycling_runs_once_at_a_time_on_the_browser_controls_only() -> None:
    actor = Actor()
    pages, slots = FakeControl("browser_pages"), FakeControl("concurrency")
    slots.recycling = Deferred()  # never asked: the slots have nothing to recycle
    actor.add(pages)
    actor.add(slots)
    assert actor.recycle() is None  # no context open
    pages.recycling = Deferred()
    recycling = actor.recycle()
    assert recycling is pages.recycling
    assert actor.recycle() is None  # one is running
    pages.recycling.callback(1)
    assert actor.recycling is None
    other = FakeControl("browser_pages")
    other.recycling = Deferred()
    actor.add(other)
    pages.recycling = Deferred()
    both = actor.recycle()
    assert both not in (None, pages.recycling)  # one Deferred for the two


def test_the_file_gate_acts_on_the_file_workers_control() -> None:
    actor = Actor()
    assert actor.files is None
    actor.add(FakeControl("file_workers"))  # not the pool's own control: no gate
    assert actor.files is None
    pool = SimpleNamespace(running=0, resize=lambda n: n, limit_tasks=lambda n: None)
    workers = FileWorkers(pool, maximum=2, latest=lambda: None)  # type: ignore[arg-type]
    actor.add(workers)
    assert actor.files is workers
