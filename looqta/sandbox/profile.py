"""Settings for crawling the local sandbox instead of the real sites.

The sandbox answers in about a millisecond and cannot be overloaded by one
crawl, so the polite per-site delays of ``looqta.settings`` are dropped to let
demos, tests and benchmarks measure looqta rather than its manners.
AutoThrottle, the per-site slots and Retry-After handling stay on.
"""

from __future__ import annotations

from typing import Any

SANDBOX_SETTINGS: dict[str, Any] = {
    "DOWNLOAD_SLOTS": {
        "amazon": {"concurrency": 8, "delay": 0.0, "jitter": 0.0},
        "noon": {"concurrency": 8, "delay": 0.0, "jitter": 0.0},
    },
    "AUTOTHROTTLE_START_DELAY": 0.0,
    "AUTOTHROTTLE_TARGET_CONCURRENCY": 8.0,
    # Blocks cool a site down for 0.2 s doubled per block in a row (<= 2 s), not minutes.
    "LOOQTA_BLOCKS_BACKOFF_SECONDS": 0.2,
    "LOOQTA_BLOCKS_BACKOFF_MAX_SECONDS": 2.0,
    # The sandbox mirrors noon's robots.txt, which disallows search pages for crawlers it does
    # not name. Demos and tests of the sandbox read them as a site that permitted looqta would
    # let it; against the real site no such permission is configured (looqta/robots.py).
    "LOOQTA_ROBOTS_PERMITTED": {"noon": ["/uae-en/search"]},
}
