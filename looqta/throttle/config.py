"""The throttle's settings (``LOOQTA_THROTTLE_*``), parsed and validated once at start-up.

Every problem is reported at once, in a :class:`ThrottleConfigError`, before the crawl starts:
a contradiction (``MIN_CONCURRENCY`` over ``MAX_CONCURRENCY``) never surfaces mid-crawl.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scrapy.settings import BaseSettings

MIB = 1024 * 1024
DEFAULT_READER = "looqta.throttle.sampler.PsutilReader"


class ThrottleConfigError(ValueError):
    """The throttle settings cannot work; raised at start-up, never mid-crawl."""


@dataclass(frozen=True)
class ThrottleConfig:
    """The throttle's configuration, in the units its field names say."""

    #: How often the machine is sampled and the decision taken.
    check_interval_seconds: float = 1.0
    #: How much history a decision looks at; older samples are dropped.
    window_seconds: float = 10.0
    #: How long a new concurrency level runs before it is judged (and the span of the "right now"
    #: window that pauses new work).
    settle_seconds: float = 3.0
    #: How often the periodic status line is logged (changes are always logged).
    log_interval_seconds: float = 30.0
    max_cpu_percent: float = 80.0
    #: Hold file tasks while the machine's CPU, niced included, is over ``max_cpu_percent``
    #: (:mod:`looqta.throttle.gate`). The file workers run niced (``LOOQTA_FILES_WORKER_NICE``)
    #: and yield the CPU to the crawl, so the crawl's level is judged without niced CPU either
    #: way; off, file work fills whatever CPU the crawl leaves and the machine may run hotter.
    hold_file_tasks: bool = True
    max_memory_percent: float = 85.0
    min_free_memory_mib: float = 1024.0
    #: Memory budget of the crawl's process tree (Scrapy, Playwright driver, Chromium, file
    #: workers), PSS where the system reports it; over it the browser is recycled and the
    #: reading counts as memory overload. 0: no budget.
    max_tree_memory_mib: float = 2048.0
    max_loop_lag_ms: float = 100.0
    #: Share of responses in one sample interval answered 429/503 above which it is overloaded.
    #: 0: any refusal. A site that refuses says plainly the crawl is over its limit, and each
    #: refusal with Retry-After stalls the site's slot; a refused share that stays under a
    #: tolerance would let the crawl sit one over the limit, stalled again and again.
    max_rate_limited_percent: float = 0.0
    #: After 429/503 answers at a level, how long steps up stop one under it before probing it
    #: again (a site's limit does not move with the machine's load; each probe costs refusals).
    rate_probe_seconds: float = 60.0
    #: Share of a window's time CPU or the event loop may be overloaded before the level steps
    #: down. Memory and refusals (429/503) have no allowance: any overloaded reading counts.
    overloaded_share: float = 0.4
    #: Steps, as a fraction of the current level (at least 1 each time).
    scale_up_step: float = 0.25
    scale_down_step: float = 0.25
    min_concurrency: int = 1
    max_concurrency: int = 16
    start_concurrency: int = 16
    #: Rendered pages open at once at the maximum level (scaled with the level, at least 1).
    max_browser_pages: int = 4
    #: File workers at the maximum level (scaled with the level, at least 1).
    max_file_workers: int = 1
    #: Recycle browser contexts after this many rendered pages. 0: never by count.
    recycle_after_pages: int = 500
    #: Import path of the reader of the machine (:class:`looqta.throttle.sampler.SystemReader`).
    reader: str = DEFAULT_READER

    def __post_init__(self) -> None:
        problems = list(self._problems())
        if problems:
            raise ThrottleConfigError("invalid throttle settings: " + "; ".join(problems))

    def _problems(self) -> list[str]:
        found: list[str] = []

        def need(ok: bool, message: str) -> None:
            if not ok:
                found.append(message)

        need(self.check_interval_seconds > 0, "LOOQTA_THROTTLE_CHECK_INTERVAL_SECONDS must be > 0")
        need(
            self.settle_seconds >= self.check_interval_seconds,
            "LOOQTA_THROTTLE_SETTLE_SECONDS must be >= LOOQTA_THROTTLE_CHECK_INTERVAL_SECONDS "
            f"({self.check_interval_seconds}), got {self.settle_seconds}",
        )
        need(
            self.window_seconds >= self.settle_seconds,
            "LOOQTA_THROTTLE_WINDOW_SECONDS must be >= LOOQTA_THROTTLE_SETTLE_SECONDS "
            f"({self.settle_seconds}), got {self.window_seconds}",
        )
        need(self.log_interval_seconds > 0, "LOOQTA_THROTTLE_LOG_INTERVAL_SECONDS must be > 0")
        for name, value in (
            ("MAX_CPU_PERCENT", self.max_cpu_percent),
            ("MAX_MEMORY_PERCENT", self.max_memory_percent),
        ):
            need(0 < value <= 100, f"LOOQTA_THROTTLE_{name} must be in (0, 100], got {value}")
        need(
            0 <= self.max_rate_limited_percent < 100,
            "LOOQTA_THROTTLE_MAX_RATE_LIMITED_PERCENT must be in [0, 100), "
            f"got {self.max_rate_limited_percent}",
        )
        need(self.min_free_memory_mib >= 0, "LOOQTA_THROTTLE_MIN_FREE_MEMORY_MIB must be >= 0")
        need(self.max_tree_memory_mib >= 0, "LOOQTA_THROTTLE_MAX_TREE_MEMORY_MIB must be >= 0 (0: none)")
        need(self.rate_probe_seconds >= 0, "LOOQTA_THROTTLE_RATE_PROBE_SECONDS must be >= 0")
        need(self.max_loop_lag_ms > 0, "LOOQTA_THROTTLE_MAX_LOOP_LAG_MS must be > 0")
        need(
            0 <= self.overloaded_share < 1,
            f"LOOQTA_THROTTLE_OVERLOADED_SHARE must be in [0, 1), got {self.overloaded_share}",
        )
        for name, value in (("SCALE_UP_STEP", self.scale_up_step), ("SCALE_DOWN_STEP", self.scale_down_step)):
            need(0 < value <= 1, f"LOOQTA_THROTTLE_{name} must be in (0, 1], got {value}")
        need(
            1 <= self.min_concurrency <= self.max_concurrency,
            "need 1 <= LOOQTA_THROTTLE_MIN_CONCURRENCY <= LOOQTA_THROTTLE_MAX_CONCURRENCY, got "
            f"{self.min_concurrency} and {self.max_concurrency}: the crawl must always progress",
        )
        need(
            self.min_concurrency <= self.start_concurrency <= self.max_concurrency,
            f"LOOQTA_THROTTLE_START_CONCURRENCY must be in {self.min_concurrency}..{self.max_concurrency}, "
            f"got {self.start_concurrency}",
        )
        need(self.max_browser_pages >= 1, "LOOQTA_THROTTLE_MAX_BROWSER_PAGES must be >= 1")
        need(self.max_file_workers >= 1, "LOOQTA_THROTTLE_MAX_FILE_WORKERS must be >= 1")
        need(self.recycle_after_pages >= 0, "LOOQTA_THROTTLE_RECYCLE_AFTER_PAGES must be >= 0 (0: never)")
        return found

    @property
    def min_free_memory_bytes(self) -> int:
        return int(self.min_free_memory_mib * MIB)

    @property
    def max_tree_memory_bytes(self) -> int | None:
        return int(self.max_tree_memory_mib * MIB) if self.max_tree_memory_mib else None

    @property
    def sample_keep_seconds(self) -> float:
        """How far back samples are kept: one window, with room for a late tick."""
        return self.window_seconds + 2 * self.check_interval_seconds

    @classmethod
    def from_settings(cls, settings: BaseSettings) -> ThrottleConfig:
        """Read ``LOOQTA_THROTTLE_*``; unset bounds follow the settings they cap.

        ``MAX_CONCURRENCY`` defaults to ``CONCURRENT_REQUESTS``, ``START_CONCURRENCY`` to the
        maximum (Scrapy's behaviour until the readings say otherwise), ``MAX_BROWSER_PAGES`` to
        ``PLAYWRIGHT_MAX_PAGES_PER_CONTEXT`` and ``MAX_FILE_WORKERS`` to ``LOOQTA_FILES_MAX_WORKERS``
        (the CPU count when that is unset too).
        """
        prefix = "LOOQTA_THROTTLE_"
        replaced = (
            "LOOQTA_THROTTLE_COUNT_NICE_CPU is gone: niced CPU (the file workers) no longer cuts the "
            "crawl; LOOQTA_THROTTLE_HOLD_FILE_TASKS holds file work instead"
            if settings.get(prefix + "COUNT_NICE_CPU") is not None
            else None
        )
        try:
            config = cls._from_settings(settings, prefix)
        except ThrottleConfigError as exc:  # every problem at once, the replaced setting too
            if replaced:
                raise ThrottleConfigError(f"{exc}; {replaced}") from None
            raise
        if replaced:
            raise ThrottleConfigError(f"invalid throttle settings: {replaced}")
        return config

    @classmethod
    def _from_settings(cls, settings: BaseSettings, prefix: str) -> ThrottleConfig:
        defaults = cls.__dataclass_fields__

        def number(name: str, field: str) -> float:
            return settings.getfloat(prefix + name, defaults[field].default)  # type: ignore[arg-type]

        def integer(name: str, fallback: int) -> int:
            value = settings.get(prefix + name)
            return fallback if value in (None, "") else settings.getint(prefix + name)

        max_concurrency = integer("MAX_CONCURRENCY", settings.getint("CONCURRENT_REQUESTS"))
        max_file_workers = settings.get("LOOQTA_FILES_MAX_WORKERS")
        return cls(
            check_interval_seconds=number("CHECK_INTERVAL_SECONDS", "check_interval_seconds"),
            window_seconds=number("WINDOW_SECONDS", "window_seconds"),
            settle_seconds=number("SETTLE_SECONDS", "settle_seconds"),
            log_interval_seconds=number("LOG_INTERVAL_SECONDS", "log_interval_seconds"),
            max_cpu_percent=number("MAX_CPU_PERCENT", "max_cpu_percent"),
            hold_file_tasks=settings.getbool(prefix + "HOLD_FILE_TASKS", defaults["hold_file_tasks"].default),  # type: ignore[arg-type]
            max_memory_percent=number("MAX_MEMORY_PERCENT", "max_memory_percent"),
            min_free_memory_mib=number("MIN_FREE_MEMORY_MIB", "min_free_memory_mib"),
            max_tree_memory_mib=number("MAX_TREE_MEMORY_MIB", "max_tree_memory_mib"),
            max_loop_lag_ms=number("MAX_LOOP_LAG_MS", "max_loop_lag_ms"),
            max_rate_limited_percent=number("MAX_RATE_LIMITED_PERCENT", "max_rate_limited_percent"),
            rate_probe_seconds=number("RATE_PROBE_SECONDS", "rate_probe_seconds"),
            overloaded_share=number("OVERLOADED_SHARE", "overloaded_share"),
            scale_up_step=number("SCALE_UP_STEP", "scale_up_step"),
            scale_down_step=number("SCALE_DOWN_STEP", "scale_down_step"),
            min_concurrency=integer("MIN_CONCURRENCY", 1),
            max_concurrency=max_concurrency,
            start_concurrency=integer("START_CONCURRENCY", max_concurrency),
            # scrapy-playwright's own fallback when PLAYWRIGHT_MAX_PAGES_PER_CONTEXT is unset
            max_browser_pages=integer(
                "MAX_BROWSER_PAGES",
                settings.getint("PLAYWRIGHT_MAX_PAGES_PER_CONTEXT") or settings.getint("CONCURRENT_REQUESTS"),
            ),
            max_file_workers=integer(
                "MAX_FILE_WORKERS",
                # 0 or unset: the files pipeline's own default, the CPU count
                int(max_file_workers)
                if max_file_workers not in (None, "", 0, "0")
                else (os.cpu_count() or 1),
            ),
            recycle_after_pages=integer("RECYCLE_AFTER_PAGES", defaults["recycle_after_pages"].default),  # type: ignore[arg-type]
            reader=settings.get(prefix + "READER") or DEFAULT_READER,
        )
