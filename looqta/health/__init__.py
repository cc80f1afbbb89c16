"""Run health: is a finished crawl good enough to trust, and if not, which check says so?

Collect, decide, act (settings: the "Run health" block of ``looqta/settings.py``):

* collect: Scrapy's and looqta's stats, plus Spidermon's per-field item counts
  (``SPIDERMON_ADD_FIELD_COVERAGE``);
* decide: :mod:`looqta.health.checks`, pure functions of a stats dict and :class:`HealthConfig`;
* act: Spidermon runs :class:`~looqta.health.monitors.HealthSuite` at spider close, and
  :class:`~looqta.health.actions.RecordHealth` writes ``looqta/health/...`` stats and log lines.

``python -m looqta.check`` applies the same checks to a canary crawl.
"""

from __future__ import annotations

from looqta.health.checks import Check, evaluate, summary
from looqta.health.config import HealthConfig

__all__ = ["Check", "HealthConfig", "evaluate", "summary"]
