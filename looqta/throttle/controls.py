"""What a component lends the throttle: one :class:`Control` per knob, announced by one signal.

A component that has a concurrency the throttle may move (Scrapy's download slots, rendered
pages, file workers) builds a :class:`Control` and sends it::

    crawler.signals.send_catch_log(throttle_control_available, control=control)

The throttle extension keeps what is sent; it never goes looking for components.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from twisted.internet.defer import Deferred

    from looqta.throttle.sampler import Sample

#: Sent with ``control=`` (a :class:`Control`) when a component's control is ready.
throttle_control_available = object()

#: Which of the throttle's limits a control follows (a field of :class:`~looqta.throttle.decide.Limits`).
Follows = Literal["concurrency", "browser_pages", "file_workers"]


class Control(Protocol):
    """A concurrency knob: the throttle applies the limit it ``follows`` every check."""

    #: The limit applied to it.
    follows: Follows
    #: One line for the log: what the limit is applied to.
    description: str

    @property
    def level(self) -> int | None:
        """What it runs at now; None before the throttle first applied a limit."""

    def apply(self, level: int, sample: Sample | None) -> None:
        """Run at most ``level``; ``sample`` is the regular check's reading (None on an early check)."""

    def recycle(self) -> Deferred[Any] | None:
        """Start replacing what leaks with use (browser contexts); None when there is nothing to."""

    def close(self) -> None:
        """Give back whatever the control holds (the crawl is ending)."""


def register(crawler: Crawler, control: Control) -> None:
    """Announce ``control`` to the throttle (a no-op when the throttle is off)."""
    crawler.signals.send_catch_log(throttle_control_available, control=control)
