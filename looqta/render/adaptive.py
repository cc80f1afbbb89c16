"""Plain HTTP or the browser, per site and page type, decided from what the answers showed.

A page type starts on plain HTTP. When a plain answer is a block the browser gets past (a
JavaScript challenge) or lacks the fields the page type must yield, the page type moves to the
browser. While there, one request in ``probe_every`` goes plain again (a probe); after
``probe_successes`` good probes in a row it moves back. A failed probe doubles the gap to the
next one (up to ``probe_every_max``), so a site that needs the browser for good costs few probes.
Crawlee's AdaptivePlaywrightCrawler is the model; this one is a pure function of the outcomes
it is told about, with timestamps passed in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

HTTP = "http"
BROWSER = "browser"


@dataclass(frozen=True)
class AdaptiveConfig:
    probe_every: int = 10
    probe_every_max: int = 80
    probe_successes: int = 2

    def __post_init__(self) -> None:
        if self.probe_every < 2 or self.probe_every_max < self.probe_every:
            raise ValueError("probe_every must be >= 2 and <= probe_every_max")
        if self.probe_successes < 1:
            raise ValueError("probe_successes must be >= 1")


@dataclass
class RouteState:
    """Where one (site, page type) goes now, and what moved it there."""

    mode: str = HTTP
    since: float = 0.0
    gap: int = 0  #: requests between probes now
    until_probe: int = 0  #: browser requests left before the next probe
    good_probes: int = 0
    switches: list[tuple[float, str, str]] = field(default_factory=list)  #: (time, to, reason)


class AdaptiveRender:
    """The decisions for every (site, page type) key of one crawl."""

    def __init__(self, config: AdaptiveConfig | None = None) -> None:
        self.config = config or AdaptiveConfig()
        self.routes: dict[str, RouteState] = {}

    def route(self, key: str) -> RouteState:
        state = self.routes.get(key)
        if state is None:
            state = self.routes[key] = RouteState()
        return state

    def choose(self, key: str) -> tuple[str, bool]:
        """How to fetch the next page of ``key``: ``(mode, is_probe)``."""
        state = self.route(key)
        if state.mode == HTTP:
            return HTTP, False
        if state.until_probe <= 0:
            state.until_probe = state.gap
            return HTTP, True
        state.until_probe -= 1
        return BROWSER, False

    def record(
        self, key: str, via: str, ok: bool, now: float, *, probe: bool = False, reason: str = ""
    ) -> str | None:
        """Tell the outcome of one page; returns the mode switched to, if this switched it."""
        state = self.route(key)
        if via == BROWSER:
            return None  # the browser's answers decide nothing: only plain answers can move us back
        if state.mode == HTTP:
            if ok:
                return None
            return self._switch(state, BROWSER, now, reason or "plain answer unusable")
        if not probe:
            return None  # a plain answer that left before the switch
        if not ok:
            state.good_probes = 0
            state.gap = min(state.gap * 2, self.config.probe_every_max)
            state.until_probe = state.gap
            return None
        state.good_probes += 1
        if state.good_probes >= self.config.probe_successes:
            return self._switch(state, HTTP, now, f"{state.good_probes} plain probes passed")
        state.until_probe = 0  # confirm soon
        return None

    def _switch(self, state: RouteState, mode: str, now: float, reason: str) -> str:
        state.mode = mode
        state.since = now
        state.good_probes = 0
        state.gap = self.config.probe_every - 1
        state.until_probe = state.gap
        state.switches.append((now, mode, reason))
        return mode
