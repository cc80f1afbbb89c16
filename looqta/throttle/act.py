"""Act: apply :class:`~looqta.throttle.decide.Limits` to the controls components registered.

Each control follows one limit (:mod:`looqta.throttle.controls`): the download slots the
concurrency, rendered pages the browser pages, file workers the file workers. A control
registered after the crawl started gets the current limits at once.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import DeferredList

from looqta.throttle.file_workers import FileWorkers

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred

    from looqta.throttle.controls import Control
    from looqta.throttle.decide import Limits
    from looqta.throttle.sampler import Sample

logger = logging.getLogger(__name__)

#: Logged once when no rendered-pages control is registered by the first regular check.
SLOTS_ONLY = "download slots only (no browser handler with page limits found)"


class Actor:
    """Keeps the registered controls; applies limits to them and recycles the browser's."""

    def __init__(self) -> None:
        self.controls: list[Control] = []
        self.limits: Limits | None = None  #: the latest applied
        self.recycling: Deferred[Any] | None = None
        self._described: set[str] = set()
        self._fallback_logged = False

    def add(self, control: Control) -> None:
        """Keep ``control``; once limits were applied, it gets them at once."""
        self.controls.append(control)
        if control.follows == "browser_pages":
            self._describe(control.description)
        if self.limits is not None:
            control.apply(getattr(self.limits, control.follows), None)

    def following(self, limit: str) -> list[Control]:
        return [control for control in self.controls if control.follows == limit]

    @property
    def files(self) -> FileWorkers | None:
        """The file pool's control, which the file gate also acts on; None without a files pipeline."""
        return next((c for c in self.controls if isinstance(c, FileWorkers)), None)

    def apply(self, limits: Limits, sample: Sample | None = None) -> None:
        # Said at the first regular check: components register at the engine's start.
        if sample is not None and not self._fallback_logged and not self.following("browser_pages"):
            self._fallback_logged = True
            logger.info("Throttle: browser concurrency is limited through %s", SLOTS_ONLY)
        self.limits = limits
        for control in self.controls:
            control.apply(getattr(limits, control.follows), sample)

    def recycle(self) -> Deferred[Any] | None:
        """Start recycling the browser's contexts; None when one is running or nothing to do."""
        if self.recycling is not None:
            return None
        started = [d for d in (c.recycle() for c in self.following("browser_pages")) if d is not None]
        if not started:
            return None
        recycling = started[0]
        if len(started) > 1:
            recycling = DeferredList(started, fireOnOneErrback=True, consumeErrors=True)
        self.recycling = recycling
        recycling.addBoth(self._recycled)
        return recycling

    def _recycled(self, result: Any) -> Any:
        self.recycling = None
        return result

    def close(self) -> None:
        for control in self.controls:
            control.close()

    def _describe(self, description: str) -> None:
        if description not in self._described:
            self._described.add(description)
            logger.info("Throttle: browser concurrency is applied to %s", description)
