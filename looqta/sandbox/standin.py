"""What a sandbox stand-in declares about its site, in one place (``STAND_IN`` in its module).

The server, the catalogue, the block pages and the sandbox crawl profile read a site's specifics
from here, so a new stand-in is one module in ``looqta/sandbox/sites/`` and nothing else.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from looqta.sandbox.titles import plain_title
from looqta.sandbox.world import Spec

#: The sandbox answers in about a millisecond: no delay, room for a crawl to measure itself.
SANDBOX_SLOT: Mapping[str, Any] = {"concurrency": 8, "delay": 0.0, "jitter": 0.0}


@dataclass(frozen=True)
class StandIn:
    """One site's stand-in.

    ``add_routes`` mounts its pages; ``new_id`` draws one product id from the catalogue's
    generator (its id scheme); ``block_pages`` maps block kinds to its own pages (kinds it lacks
    get the edge's "Access Denied"); ``challenge`` wraps the challenge script as its bot
    protection does (``blocks.aws_waf_challenge``, ``blocks.akamai_challenge``);
    ``robots_permitted`` are paths its robots.txt disallows that sandbox crawls read anyway;
    ``sandbox_slot`` is its download slot in the sandbox crawl profile. ``order`` fixes its port
    (P + its index among the stand-ins, sorted by order then name). ``title`` writes a world
    product's title as the site does (``looqta.sandbox.titles``), drawing its choices from the
    catalogue's generator.
    """

    name: str
    add_routes: Callable[[web.Application], None]
    new_id: Callable[[random.Random], str]
    challenge: Callable[[str, str], str]
    block_pages: Mapping[str, Callable[[], str]] = field(default_factory=dict)
    robots_permitted: tuple[str, ...] = ()
    sandbox_slot: Mapping[str, Any] = field(default_factory=lambda: dict(SANDBOX_SLOT))
    order: int = 100
    title: Callable[[Spec, random.Random], str] = plain_title
