"""The GC-freeze extension: start-up objects leave full collections, which it times into stats."""

from __future__ import annotations

import gc
from typing import TYPE_CHECKING

import pytest
from scrapy.exceptions import NotConfigured
from scrapy.utils.test import get_crawler

from looqta.extensions import gcfreeze
from looqta.extensions.gcfreeze import CollectionTimer, GcFreeze

# The freeze count is the whole process's: under pytest-xdist the worker's own I/O thread frees
# frozen objects while a test reads it (seen in CI: 416,207 != 416,187). Run alone (deploy/test.sh).
pytestmark = pytest.mark.serial

if TYPE_CHECKING:
    from collections.abc import Iterator


class Cycle:
    def __init__(self) -> None:
        self.me = self


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    yield
    # Whatever a failed test left: the process's freeze, its holders, timers in gc.callbacks.
    gcfreeze._holders.clear()
    gc.unfreeze()
    gc.callbacks[:] = [c for c in gc.callbacks if not isinstance(c, CollectionTimer)]


def test_it_freezes_at_engine_start_times_collections_and_thaws_at_stop() -> None:
    crawler = get_crawler()
    extension = GcFreeze.from_crawler(crawler)
    assert gc.get_freeze_count() == 0
    extension._engine_started()  # (a real crawl sends the signals: tests/test_demo.py)
    frozen = gc.get_freeze_count()
    assert frozen > 1000  # the modules, classes and functions of the process
    stats = crawler.stats.get_stats()
    assert stats["looqta/gc/frozen_objects"] == frozen
    # Every key exists from the start: a collection never grows the stats (it may run while
    # other code iterates them).
    for generation in (0, 1, 2):
        assert f"looqta/gc/collections/{generation}" in stats
        assert f"looqta/gc/pause_max_ms/{generation}" in stats
    # Objects made after the start are still collected, and the collection is timed.
    Cycle()
    assert gc.collect(2) >= 1
    assert crawler.stats.get_value("looqta/gc/collections/2") >= 1
    extension._release()
    extension._release()  # the spider closed, then the engine stopped: once is enough
    assert gc.get_freeze_count() == 0
    assert extension.timer not in gc.callbacks
    before = crawler.stats.get_value("looqta/gc/collections/2")
    gc.collect(2)
    assert crawler.stats.get_value("looqta/gc/collections/2") == before


def test_crawls_side_by_side_thaw_when_the_last_one_stops() -> None:
    first = GcFreeze.from_crawler(get_crawler())
    second = GcFreeze.from_crawler(get_crawler())
    first._engine_started()
    frozen = gc.get_freeze_count()
    Cycle()  # the first crawl's objects in flight: the second's start does not freeze them
    second._engine_started()
    assert gc.get_freeze_count() == frozen
    first._release()
    assert gc.get_freeze_count() > 1000  # the second crawl still runs
    second._release()
    assert gc.get_freeze_count() == 0


def test_the_timer_counts_each_generation_and_keeps_the_longest_pause() -> None:
    crawler = get_crawler()
    now = [10.0]
    timer = CollectionTimer(crawler.stats, clock=lambda: now[0])
    timer("stop", {"generation": 2})  # registered mid-collection: nothing to time
    for generation, seconds in ((0, 0.001), (2, 0.090), (2, 0.030)):
        timer("start", {"generation": generation})
        now[0] += seconds
        timer("stop", {"generation": generation})
    assert crawler.stats.get_stats() == {
        "looqta/gc/collections/0": 1,
        "looqta/gc/pause_max_ms/0": 1.0,
        "looqta/gc/collections/2": 2,
        "looqta/gc/pause_max_ms/2": 90.0,
    }


def test_it_is_off_when_disabled() -> None:
    crawler = get_crawler(settings_dict={"LOOQTA_GC_FREEZE_ENABLED": False})
    with pytest.raises(NotConfigured):
        GcFreeze.from_crawler(crawler)
