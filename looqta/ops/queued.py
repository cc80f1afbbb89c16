"""Scheduled crawls as search jobs on the warm crawlers' queue in Redis (docs/search.md).

A tick of a warm schedule pushes one :class:`~looqta.search.contract.SearchJob` (bulk, unless the
schedule says manual) with ``looqta.search.queue.push``. Its search id starts with
``schedule.<name>.``, so the next tick can tell the schedule's last run is still queued (in the
site's manual or bulk list) or running (in a crawler's processing list, which it leaves only when
its ``site-done`` / ``site-failed`` is written) and skip, as a Scrapyd job still pending or running
is skipped. Nothing else is kept: the check survives a restart of the scheduler.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import TYPE_CHECKING

from looqta.search import contract, queue

if TYPE_CHECKING:
    import redis

    from looqta.ops.schedules import Schedule

logger = logging.getLogger(__name__)

# KEYS: manual, bulk, crawlers. ARGV: the site's key prefix. Every job queued for the site or held
# by one of its crawlers, read at one instant (a job moves between these lists atomically).
_HELD = """
local jobs = {}
for _, key in ipairs({KEYS[1], KEYS[2]}) do
  for _, job in ipairs(redis.call('LRANGE', key, 0, -1)) do table.insert(jobs, job) end
end
for _, id in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  for _, job in ipairs(redis.call('LRANGE', ARGV[1] .. ':processing:' .. id, 0, -1)) do
    table.insert(jobs, job)
  end
end
return jobs
"""


def search_id_prefix(schedule_name: str) -> str:
    return f"schedule.{schedule_name}."


def _search_id(raw: bytes | str) -> str:
    try:
        return str(json.loads(raw).get("search_id", ""))
    except (ValueError, AttributeError):
        return ""  # not a job (the crawler reports it failed); not this schedule's


class QueueSubmitter:
    """The scheduler's view of the search queue (a blocking redis-py client: ticks run in threads)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._held = client.register_script(_HELD)

    def pending_search_ids(self, site: str) -> list[str]:
        """The search ids queued for ``site`` or held by one of its crawlers."""
        keys = [
            contract.queue_key(site, "manual"),
            contract.queue_key(site, "bulk"),
            contract.crawlers_key(site),
        ]
        return [_search_id(raw) for raw in self._held(keys=keys, args=[f"{contract.KEY_PREFIX}:{site}"])]

    def is_active(self, schedule: Schedule) -> bool:
        prefix = search_id_prefix(schedule.name)
        return any(search_id.startswith(prefix) for search_id in self.pending_search_ids(schedule.spider))

    def submit(self, schedule: Schedule) -> str:
        job = schedule.search_job(f"{search_id_prefix(schedule.name)}{uuid.uuid4().hex}")
        queue.push(self.client, job)
        if not self.client.scard(contract.crawlers_key(job.site)):
            logger.warning(
                "%s: no warm %s crawler is running; the job waits in the queue "
                "(python -m looqta.ops warm start --sites %s)",
                schedule.name,
                job.site,
                job.site,
            )
        logger.info(
            "%s: %s job %s queued for the %s crawlers", schedule.name, job.kind, job.search_id, job.site
        )
        return job.search_id
