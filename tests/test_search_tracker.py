"""When a warm crawler's search is finished (looqta/search/tracker.py), without a crawl."""

from __future__ import annotations

import asyncio
from typing import Any

from scrapy import Request
from twisted.python.failure import Failure

from looqta.middlewares.blocks import Blocked
from looqta.search import contract
from looqta.search.contract import SearchJob
from looqta.search.tracker import SEARCH_ID_META_KEY, TICKET_META_KEY, SearchRun, SearchTracker


def tracker_with_search() -> tuple[SearchTracker, list[SearchRun], SearchJob, Request]:
    finished: list[SearchRun] = []
    tracker = SearchTracker(finished.append, clock=lambda: 10.0)
    job = SearchJob.new("iphone", "amazon")
    tracker.open(job, job.encode())
    start = Request("http://shop.test/s?k=iphone", meta={SEARCH_ID_META_KEY: job.search_id})
    return tracker, finished, job, tracker.adopt(start)


def failure_of(request: Request, error: Exception) -> Failure:
    failure = Failure(error)
    failure.request = request  # type: ignore[attr-defined]  # what Scrapy's scraper sets
    return failure


def drain(agen: Any) -> list[Any]:
    async def main() -> list[Any]:
        return [out async for out in agen]

    return asyncio.run(main())


def test_a_search_ends_when_its_last_request_is_read_and_its_items_are_through() -> None:
    tracker, finished, job, start = tracker_with_search()
    item = {"source_id": "A"}
    next_page = Request("http://shop.test/s?k=iphone&page=2")
    assert tracker.output(start, item) is item
    assert tracker.output(start, next_page).meta[SEARCH_ID_META_KEY] == job.search_id  # inherited
    tracker.close(start)
    assert finished == []  # page 2 still to read
    tracker.close(next_page)
    assert finished == []  # the item is still in the pipelines
    run = tracker.item_finished(item, scraped=True)
    assert run is not None
    tracker.check(run)
    assert finished == [run]
    assert run.outcome(12.5) == contract.site_done("amazon", 1, 2.5)


def test_a_retry_keeps_its_ticket_and_a_page_read_again_gets_its_own() -> None:
    tracker, finished, _, start = tracker_with_search()
    retry = start.replace(dont_filter=True)  # what the retry and block middlewares do
    assert retry.meta[TICKET_META_KEY] == start.meta[TICKET_META_KEY]
    reread = tracker.output(start, start.replace(dont_filter=True))  # PageCheckMiddleware's re-read
    assert reread.meta[TICKET_META_KEY] != start.meta[TICKET_META_KEY]
    tracker.close(retry)  # the retry's response closes the one ticket the first request opened
    assert finished == []
    tracker.close(reread)
    assert len(finished) == 1


def test_a_search_whose_every_request_was_blocked_fails_as_blocked() -> None:
    tracker, finished, _, start = tracker_with_search()
    assert start.errback == tracker.failed
    assert drain(tracker.failed(failure_of(start, Blocked("captcha", start.url)))) == []
    [run] = finished
    assert run.outcome(11.0) == contract.site_failed("amazon", "blocked", "1 requests failed")


def test_a_spiders_own_errback_still_runs_and_its_items_are_counted() -> None:
    finished: list[SearchRun] = []
    tracker = SearchTracker(finished.append)
    job = SearchJob.new("iphone", "amazon")
    tracker.open(job, job.encode())
    kept = {"source_id": "A"}

    def details_failed(failure: Failure) -> Any:
        yield kept

    product = Request(
        "http://shop.test/dp/A", errback=details_failed, meta={SEARCH_ID_META_KEY: job.search_id}
    )
    tracker.adopt(product)
    assert drain(tracker.failed(failure_of(product, ConnectionError("reset")))) == [kept]
    assert finished == []  # the kept item is in the pipelines
    run = tracker.item_finished(kept, scraped=False)  # dropped: not an offer
    assert run is not None
    tracker.check(run)
    assert finished[0].outcome(0) == contract.site_failed("amazon", "error", "1 requests failed")


def test_requests_of_no_search_are_left_alone() -> None:
    tracker, _, _, _ = tracker_with_search()
    request = Request("http://shop.test/robots.txt")
    assert tracker.adopt(request) is request
    assert TICKET_META_KEY not in request.meta
    assert request.errback is None
