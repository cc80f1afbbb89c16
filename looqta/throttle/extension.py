"""The throttle extension: sampler -> decide -> act, every check interval, on the reactor.

:class:`ThrottleExtension` keeps the crawl within the machine (CPU under
``LOOQTA_THROTTLE_MAX_CPU_PERCENT``, memory under ``LOOQTA_THROTTLE_MAX_MEMORY_PERCENT`` with
``LOOQTA_THROTTLE_MIN_FREE_MEMORY_MIB`` free, an event loop that keeps up, few 429/503): it moves
the downloader's concurrency, the browser's page limit and the file pool's size together, in
small steps, holds file tasks while the machine's CPU (niced file work included) is over the
limit (:mod:`looqta.throttle.gate`), and recycles browser contexts after
``LOOQTA_THROTTLE_RECYCLE_AFTER_PAGES`` pages or when the crawl's process tree passes
``LOOQTA_THROTTLE_MAX_TREE_MEMORY_MIB``. It acts on the controls components register
(:mod:`looqta.throttle.controls`); see :mod:`looqta.throttle` for the parts.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import NotConfigured
from scrapy.utils.asyncio import call_later, create_looping_call
from scrapy.utils.misc import build_from_crawler, load_object

from looqta import internals
from looqta.throttle.act import Actor
from looqta.throttle.config import MIB, ThrottleConfig
from looqta.throttle.controls import throttle_control_available
from looqta.throttle.decide import Target, decide, limits_for
from looqta.throttle.gate import FileGate, decide_gate
from looqta.throttle.loads import describe
from looqta.throttle.recycle import RecycleMark, recycle_reason
from looqta.throttle.sampler import RATE_LIMIT_STATUSES, LagProbe, Sampler, ScrapyCounters

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Self

    from scrapy import Request, Spider
    from scrapy.crawler import Crawler
    from scrapy.http import Response
    from scrapy.utils.asyncio import AsyncioLoopingCall, CallLaterResult
    from twisted.internet.task import LoopingCall
    from twisted.python.failure import Failure

    from looqta.throttle.controls import Control
    from looqta.throttle.decide import Decision, Limits
    from looqta.throttle.sampler import Sample

logger = logging.getLogger(__name__)

STATS_PREFIX = "looqta/throttle"
#: A 429/503 brings the next check forward to this long after it, and the level is checked again
#: as often until it changes or a check interval has passed since the last refusal (the answers
#: to the other requests sent with it come in meanwhile): the site's refusals are judged as soon
#: as it has answered a level's worth of requests (:func:`looqta.throttle.decide.decide`), not at
#: the next tick, and every refusal until then costs a Retry-After stall of the site's slot.
REFUSAL_CHECK_DELAY_SECONDS = 0.1


class ThrottleExtension:
    def __init__(self, crawler: Crawler, *, clock: Callable[[], float] = time.monotonic) -> None:
        if not crawler.settings.getbool("LOOQTA_THROTTLE_ENABLED", True):
            raise NotConfigured
        self.config = ThrottleConfig.from_settings(crawler.settings)
        self.crawler = crawler
        self.stats = crawler.stats
        self.clock = clock
        reader = build_from_crawler(load_object(self.config.reader), crawler)
        self.sampler = Sampler(
            reader,
            ScrapyCounters(crawler),
            LagProbe(clock),
            clock=clock,
            keep_seconds=self.config.sample_keep_seconds,
        )
        self.target = Target(level=self.config.start_concurrency)
        self.limits = limits_for(self.target, self.config)
        self.gate = FileGate(tasks=self.limits.file_workers, since=0.0)
        self.mark = RecycleMark(at=0.0, pages=0)
        self.actor = Actor()
        self.logged_at = 0.0
        self._loop: AsyncioLoopingCall | LoopingCall | None = None
        self._early: CallLaterResult | None = None
        self._refused_at = -math.inf  #: when the latest 429/503 arrived
        crawler.signals.connect(self._control_available, signal=throttle_control_available)
        crawler.signals.connect(self._engine_started, signal=signals.engine_started)
        crawler.signals.connect(self._engine_stopped, signal=signals.engine_stopped)
        crawler.signals.connect(self._response_downloaded, signal=signals.response_downloaded)

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    # lifecycle -------------------------------------------------------------------------------

    def _control_available(self, control: Control) -> None:
        self.actor.add(control)

    def _engine_started(self) -> None:
        now = self.clock()
        internals.warn_on_other_versions()
        self.target = replace(self.target, since=now)
        self.gate = replace(self.gate, since=now)
        self.mark = RecycleMark(at=now, pages=0)
        self.logged_at = now
        self.actor.apply(self.limits)
        self._set_limit_stats()
        self.sampler.probe.start()
        self.sampler.sample()  # the start of the first interval: nothing answered yet
        self.sampler.refresh_tree()
        self._loop = create_looping_call(self._check)
        self._loop.start(self.config.check_interval_seconds, now=False)
        config = self.config
        logger.info(
            "Throttle on: level %d in %d..%d (browser pages up to %d, file workers up to %d); "
            "limits CPU %g%%, memory %g%%, free memory %g MiB, crawl tree %s, loop lag %g ms, "
            "429/503 %g%%; checked every %g s over %g s",
            self.target.level,
            config.min_concurrency,
            config.max_concurrency,
            config.max_browser_pages,
            config.max_file_workers,
            config.max_cpu_percent,
            config.max_memory_percent,
            config.min_free_memory_mib,
            f"{config.max_tree_memory_mib:g} MiB" if config.max_tree_memory_mib else "unlimited",
            config.max_loop_lag_ms,
            config.max_rate_limited_percent,
            config.check_interval_seconds,
            config.window_seconds,
            extra={"spider": self.crawler.spider},
        )

    def _engine_stopped(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None
        if self._early is not None:
            self._early.cancel()
            self._early = None
        self.sampler.probe.stop()
        self.actor.close()

    # one check: collect, decide, act ---------------------------------------------------------

    def _response_downloaded(self, response: Response, request: Request, spider: Spider) -> None:
        if response.status in RATE_LIMIT_STATUSES:
            self._refused_at = self.clock()
            if self._early is None and self._loop is not None:
                self._early = call_later(REFUSAL_CHECK_DELAY_SECONDS, self._refusal_check)

    def _refusal_check(self) -> None:
        self._early = None
        if self._loop is None:
            return
        self.stats.inc_value(f"{STATS_PREFIX}/refusal_checks")
        level = self.target.level
        self._check(early=True)
        # The answers taken come in after the refusals (a 429 comes back fast): until the
        # site has answered a level's worth, look again.
        waiting = self.clock() - self._refused_at < self.config.check_interval_seconds
        if self.target.level == level and waiting and self._loop is not None:
            self._early = call_later(REFUSAL_CHECK_DELAY_SECONDS, self._refusal_check)

    def _tick(self, *, early: bool = False) -> None:
        """One check; an ``early`` one (brought forward by a refusal) judges and applies the
        level only: the file gate, the tree's memory and recycling keep the regular ticks."""
        samples = self.sampler.samples
        last_at = samples[-1].at if samples else None
        sample = self.sampler.sample()
        elapsed = sample.at - last_at if last_at is not None else self.config.check_interval_seconds
        previous = self.target
        decision = decide(samples, sample.at, self.config, previous)
        self.target = decision.target
        self.limits = limits_for(self.target, self.config)
        self.actor.apply(self.limits, None if early else sample)  # new slots and contexts too
        if not early:
            self.sampler.refresh_tree()
            self._gate_files(sample, elapsed)
        self._record(sample, previous, elapsed)
        if self.target != previous:
            self._log_change(decision)
        elif sample.at - self.logged_at >= self.config.log_interval_seconds:
            self._log_status(decision, sample)
        if early:
            return
        reason = recycle_reason(sample, self.mark, self.config)
        if reason is not None:
            self._recycle(reason, sample)

    def _gate_files(self, sample: Sample, elapsed: float) -> None:
        files = self.actor.files
        if files is None or files.size is None:
            return  # no files pipeline
        decision = decide_gate(
            self.sampler.samples, sample.at, self.config, self.gate, files.size, files.running()
        )
        previous, self.gate = self.gate, decision.gate
        files.limit_tasks(self.gate.tasks)
        prefix = f"{STATS_PREFIX}/file_tasks"
        self.stats.set_value(prefix, self.gate.tasks)
        if self.gate.tasks == 0 and files.waiting():
            self.stats.inc_value(f"{prefix}/held_seconds", elapsed)
        if decision.action == "close":
            self.stats.inc_value(f"{prefix}/close")
        if self.gate.tasks != previous.tasks:
            logger.debug(
                "Throttle file gate %s: %s",
                decision.action,
                decision.reason,
                extra={"spider": self.crawler.spider},
            )

    def _check(self, *, early: bool = False) -> None:
        """One check; if it raises, the throttle stops and fails open (the file gate is lifted,
        so no file work is held by a throttle that no longer checks)."""
        try:
            self._tick(early=early)
        except Exception:
            logger.exception("Throttle stopped: a check failed", extra={"spider": self.crawler.spider})
            self.stats.inc_value(f"{STATS_PREFIX}/failed")
            if self._loop is not None and self._loop.running:
                self._loop.stop()
            if self.actor.files is not None:
                self.actor.files.limit_tasks(None)

    def _recycle(self, reason: str, sample: Sample) -> None:
        recycling = self.actor.recycle()
        if recycling is None:
            return  # one is running, or no context is open: the counter goes on
        self.mark = RecycleMark(at=sample.at, pages=sample.pages)
        self.stats.inc_value(f"{STATS_PREFIX}/recycle")
        logger.info(
            "Throttle: recycling the browser's contexts: %s", reason, extra={"spider": self.crawler.spider}
        )
        recycling.addCallbacks(self._recycled, self._recycle_failed)

    def _recycled(self, closed: Any) -> None:
        if isinstance(closed, int):
            self.stats.inc_value(f"{STATS_PREFIX}/recycle/contexts_closed", closed)

    def _recycle_failed(self, failure: Failure) -> None:
        self.stats.inc_value(f"{STATS_PREFIX}/recycle/failed")
        logger.error(
            "Throttle: recycling the browser's contexts failed: %s",
            failure.getErrorMessage(),
            exc_info=(failure.type, failure.value, failure.getTracebackObject()),
            extra={"spider": self.crawler.spider},
        )

    # stats and log ---------------------------------------------------------------------------

    def _set_limit_stats(self) -> None:
        for name in ("concurrency", "browser_pages", "file_workers"):
            self.stats.set_value(f"{STATS_PREFIX}/{name}", getattr(self.limits, name))
        self.stats.set_value(f"{STATS_PREFIX}/level", self.target.level)
        self.stats.min_value(f"{STATS_PREFIX}/level/min", self.target.level)
        self.stats.max_value(f"{STATS_PREFIX}/level/max", self.target.level)

    def _record(self, sample: Sample, previous: Target, elapsed: float) -> None:
        stats, prefix = self.stats, STATS_PREFIX
        stats.inc_value(f"{prefix}/samples")
        self._set_limit_stats()
        if self.target.level < previous.level:
            stats.inc_value(f"{prefix}/scale_down")
        elif self.target.level > previous.level:
            stats.inc_value(f"{prefix}/scale_up")
        if self.target.paused and not previous.paused:
            stats.inc_value(f"{prefix}/pause")
        elif previous.paused and not self.target.paused:
            stats.inc_value(f"{prefix}/resume")
        if self.target.paused:
            stats.inc_value(f"{prefix}/paused_seconds", elapsed)
        stats.max_value(f"{prefix}/cpu_percent/max", round(sample.cpu_percent))
        stats.max_value(f"{prefix}/loop_lag_ms/max", round(sample.loop_lag_seconds * 1000))
        if sample.tree is not None:
            stats.max_value(f"{prefix}/tree_memory_mib/max", round(sample.tree.bytes / MIB))
            stats.set_value(f"{prefix}/tree_memory_mib", round(sample.tree.bytes / MIB))

    def _limits_text(self, limits: Limits) -> str:
        return (
            f"concurrency {limits.concurrency}, browser pages {limits.browser_pages}, "
            f"file workers {limits.file_workers}, file tasks at once {self.gate.tasks}"
        )

    def _log_change(self, decision: Decision) -> None:
        self.logged_at = self.clock()
        logger.info(
            "Throttle %s: %s [%s]",
            decision.action,
            decision.reason,
            self._limits_text(self.limits),
            extra={"spider": self.crawler.spider},
        )

    def _log_status(self, decision: Decision, sample: Sample) -> None:
        self.logged_at = sample.at
        logger.info(
            "Throttle: level %d%s [%s]; %s; %s",
            self.target.level,
            " (paused)" if self.target.paused else "",
            self._limits_text(self.limits),
            describe(sample),
            decision.reason,
            extra={"spider": self.crawler.spider},
        )
