"""Which searches a warm crawler is running, and when each one's requests are all finished.

A search's requests are counted by ticket (``request.meta``): a request the spider makes opens a
ticket; a retry or a redirect the downloader makes of it carries the same ticket; the ticket closes
when its response's callback output has been read, its errback has run, or the scheduler dropped
it. Items are counted from the spider's output until the pipelines scraped, dropped or failed
them. A search with no open ticket and no item in the pipelines is finished.
"""

from __future__ import annotations

import inspect
import itertools
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from looqta.search import contract
from looqta.search.contract import SearchJob

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from typing import Self

    from scrapy import Request
    from scrapy.crawler import Crawler
    from twisted.python.failure import Failure

    from looqta.search.contract import StreamEntry

#: ``meta`` keys of a search's requests.
SEARCH_ID_META_KEY = "looqta_search_id"
TICKET_META_KEY = "looqta_search_ticket"
ERRBACK_META_KEY = "looqta_search_errback"

#: What looqta.middlewares.blocks raises when a site blocked a request until its retries ran out.
BLOCKED = "looqta.middlewares.blocks.Blocked"
#: Sent (``tracker=``) when a warm spider opens; components that scope their work per search listen.
search_tracker_opened = object()


class UsesSearchTracker:
    """Base of a component that acts for the warm crawler's tracker once it opens (else passes)."""

    def __init__(self, crawler: Crawler) -> None:
        self.tracker: SearchTracker | None = None
        crawler.signals.connect(self._tracker_opened, signal=search_tracker_opened)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def _tracker_opened(self, tracker: SearchTracker) -> None:
        self.tracker = tracker


@dataclass
class SearchRun:
    job: SearchJob
    raw: str | bytes
    started: float
    tickets: set[int] = field(default_factory=set)
    offers: int = 0
    responses: int = 0
    failures: list[str] = field(default_factory=list)
    #: What pipelines have seen in this search, by pipeline (forgotten with the search).
    seen: dict[str, set[Any]] = field(default_factory=dict)

    def outcome(self, now: float) -> StreamEntry:
        """``site-done``, or ``site-failed`` when not one page was read and requests failed."""
        if self.responses == 0 and self.failures:
            reason = "blocked" if "blocked" in self.failures else "error"
            return contract.site_failed(self.job.site, reason, f"{len(self.failures)} requests failed")
        return contract.site_done(self.job.site, self.offers, now - self.started)


class SearchTracker:
    """Open searches by id; ``on_finished(run)`` is called once per search, when it is finished."""

    def __init__(
        self,
        on_finished: Callable[[SearchRun], Any],
        clock: Callable[[], float] = time.monotonic,
        on_offer: Callable[[SearchRun, Any], Any] | None = None,
    ):
        self.on_finished = on_finished
        self.on_offer = on_offer
        self.clock = clock
        self.runs: dict[str, SearchRun] = {}
        self._items: dict[int, tuple[str, Any]] = {}
        #: Items already counted and sent as offers (looqta.search.pipeline), by id.
        self._streamed: set[int] = set()
        self._tickets = itertools.count(1)

    def open(self, job: SearchJob, raw: str | bytes) -> SearchRun:
        run = self.runs[job.search_id] = SearchRun(job, raw, self.clock())
        return run

    def active(self, kind: str) -> int:
        return sum(1 for run in self.runs.values() if run.job.kind == kind)

    # requests --------------------------------------------------------------------------------

    def adopt(self, request: Request) -> Request:
        """Count a request the spider made for a search (a new ticket; errbacks reported here)."""
        search_id = request.meta.get(SEARCH_ID_META_KEY)
        run = self.runs.get(search_id) if search_id else None
        if run is None:
            return request
        ticket = next(self._tickets)
        request.meta[TICKET_META_KEY] = ticket
        run.tickets.add(ticket)
        if request.errback != self.failed:
            request.meta[ERRBACK_META_KEY] = request.errback
            request.errback = self.failed
        return request

    def close(self, request: Request, *, failure: Failure | None = None) -> None:
        run = self.runs.get(request.meta.get(SEARCH_ID_META_KEY, ""))
        ticket = request.meta.get(TICKET_META_KEY)
        if run is None or ticket not in run.tickets:
            return
        run.tickets.discard(ticket)
        if failure is None:
            run.responses += 1
        else:
            run.failures.append("blocked" if failure.check(BLOCKED) else "error")
        self._check(run)

    async def failed(self, failure: Failure) -> AsyncIterator[Any]:
        """Every search request's errback: the spider's own errback's output, then the ticket closed."""
        request = failure.request  # type: ignore[attr-defined]
        original = request.meta.get(ERRBACK_META_KEY)
        try:
            if original is not None:
                output = original(failure)
                if inspect.isasyncgen(output):
                    async for out in output:
                        yield self.output(request, out)
                else:
                    for out in output or ():
                        yield self.output(request, out)
        finally:
            self.close(request, failure=failure)

    # items -----------------------------------------------------------------------------------

    def output(self, request: Request, out: Any) -> Any:
        """What a search's callback or errback yields: requests adopted, items counted."""
        search_id = request.meta.get(SEARCH_ID_META_KEY)
        if search_id not in self.runs:
            return out
        if hasattr(out, "meta") and hasattr(out, "callback"):
            out.meta.pop(TICKET_META_KEY, None)  # a page read again is a request of its own
            out.meta[SEARCH_ID_META_KEY] = search_id
            return self.adopt(out)
        self._items[id(out)] = (search_id, out)
        return out

    def search_of(self, item: Any) -> str | None:
        entry = self._items.get(id(item))
        return entry[0] if entry is not None and entry[1] is item else None

    def seen(self, item: Any, namespace: str) -> set[Any] | None:
        """The set a pipeline keeps what it saw in ``item``'s search in; None if no search's."""
        return self.seen_in(self.search_of(item) or "", namespace)

    def seen_in(self, search_id: str, namespace: str) -> set[Any] | None:
        """The set ``namespace`` keeps for running search ``search_id`` (dropped with it); None if none."""
        run = self.runs.get(search_id)
        return None if run is None else run.seen.setdefault(namespace, set())

    def stream(self, item: Any) -> SearchRun | None:
        """Count ``item`` as an offer of its search, once: its run (send it), or None (not a running
        search's item, or counted already)."""
        search_id = self.search_of(item)
        if search_id is None or id(item) in self._streamed:
            return None
        self._streamed.add(id(item))
        run = self.runs[search_id]
        run.offers += 1
        return run

    def offer(self, item: Any) -> None:
        """``item`` is an offer of its search: counted and handed to ``on_offer``, once."""
        run = self.stream(item)
        if run is not None and self.on_offer is not None:
            self.on_offer(run, item)

    def item_finished(self, item: Any, *, scraped: bool) -> SearchRun | None:
        """``item`` left the pipelines (an offer if ``scraped`` and not counted by :meth:`stream`)."""
        search_id = self.search_of(item)
        if search_id is None:
            return None
        del self._items[id(item)]
        streamed = id(item) in self._streamed
        self._streamed.discard(id(item))
        run = self.runs[search_id]
        run.offers += int(scraped and not streamed)
        return run

    def check(self, run: SearchRun) -> None:
        self._check(run)

    def _check(self, run: SearchRun) -> None:
        if run.tickets or any(sid == run.job.search_id for sid, _ in self._items.values()):
            return
        if self.runs.pop(run.job.search_id, None) is not None:
            self.on_finished(run)
