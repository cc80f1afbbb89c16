"""Settings for crawling the local sandbox instead of the real sites.

The sandbox answers in about a millisecond and cannot be overloaded by one crawl, so each
site's polite slot (its spider's ``download_slot``) gives way to its stand-in's
``sandbox_slot``, letting demos, tests and benchmarks measure looqta rather than its manners.
AutoThrottle, the per-site slots and Retry-After handling stay on.
"""

from __future__ import annotations

from typing import Any

from looqta.sandbox import sites

SANDBOX_SETTINGS: dict[str, Any] = {
    "DOWNLOAD_SLOTS": {name: dict(site.sandbox_slot) for name, site in sites.stand_ins().items()},
    "AUTOTHROTTLE_START_DELAY": 0.0,
    "AUTOTHROTTLE_TARGET_CONCURRENCY": 8.0,
    # Blocks cool a site down for 0.2 s doubled per block in a row (<= 2 s), not minutes.
    "LOOQTA_BLOCKS_BACKOFF_SECONDS": 0.2,
    "LOOQTA_BLOCKS_BACKOFF_MAX_SECONDS": 2.0,
    # Paths a stand-in's robots.txt disallows that sandbox crawls read anyway (noon's search, as
    # a site that permitted looqta would let it); against the real sites none is configured.
    "LOOQTA_ROBOTS_PERMITTED": {
        name: list(site.robots_permitted) for name, site in sites.stand_ins().items() if site.robots_permitted
    },
}
