"""The registry of sandbox stand-ins: every module here that defines ``STAND_IN`` is a site.

Found by discovery, so adding a site is adding a module. A ``looqta/sandbox/sites/`` directory
elsewhere on ``sys.path`` (a site kept outside the repo, or a test's) is searched too, after this
one. Modules without ``STAND_IN`` are a site's helpers. Nothing is imported until first asked.
"""

from __future__ import annotations

import functools
import importlib
import os
import pkgutil
import sys

from looqta.sandbox.standin import StandIn


def _add_site_dirs() -> None:
    """Append to this package's path every ``looqta/sandbox/sites/`` directory on ``sys.path``."""
    tail = os.path.join(*__name__.split("."))
    known = {os.path.realpath(entry) for entry in __path__}
    for entry in sys.path:
        candidate = os.path.realpath(os.path.join(entry or os.curdir, tail))
        if candidate not in known and os.path.isdir(candidate):
            __path__.append(candidate)
            known.add(candidate)


@functools.cache
def stand_ins() -> dict[str, StandIn]:
    """Every stand-in by name, ordered by (``order``, name): the port layout's order."""
    _add_site_dirs()
    found: list[StandIn] = []
    for module_info in pkgutil.iter_modules(__path__, prefix=__name__ + "."):
        stand_in = getattr(importlib.import_module(module_info.name), "STAND_IN", None)
        if stand_in is None:
            continue
        if not isinstance(stand_in, StandIn):
            raise TypeError(f"{module_info.name}.STAND_IN must be a StandIn, got {type(stand_in).__name__}")
        found.append(stand_in)
    found.sort(key=lambda s: (s.order, s.name))
    by_name = {s.name: s for s in found}
    if len(by_name) != len(found):
        raise ValueError(f"two stand-ins share a name: {[s.name for s in found]}")
    return by_name


def names() -> tuple[str, ...]:
    """The sites the sandbox serves, in port order (amazon, noon, then any others)."""
    return tuple(stand_ins())


def get(site: str) -> StandIn:
    """``site``'s stand-in; ``ValueError`` naming the known sites if there is none."""
    try:
        return stand_ins()[site]
    except KeyError:
        raise ValueError(f"unknown site {site!r}; expected one of {names()}") from None
