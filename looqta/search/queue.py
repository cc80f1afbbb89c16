"""The search queue's operations on a redis-py client, sync or asyncio alike.

Each method returns what the client returns: a value with ``redis.Redis``, an awaitable with
``redis.asyncio.Redis``. Taking, requeueing and finishing are atomic (Lua scripts and a
``MULTI``), so a job is always in exactly one place: a queue, or one crawler's processing list
until its ``site-done`` / ``site-failed`` is in the stream.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from looqta.search import contract

if TYPE_CHECKING:
    from looqta.search.contract import SearchJob, StreamEntry

# KEYS: manual, bulk, processing, lease, crawlers. ARGV: take manual (1/0), take bulk, crawler id, lease ms.
_TAKE = """
redis.call('SET', KEYS[4], '1', 'PX', ARGV[4])
redis.call('SADD', KEYS[5], ARGV[3])
if ARGV[1] == '1' then
  local job = redis.call('LMOVE', KEYS[1], KEYS[3], 'LEFT', 'RIGHT')
  if job then return job end
end
if ARGV[2] == '1' then
  local job = redis.call('LMOVE', KEYS[2], KEYS[3], 'LEFT', 'RIGHT')
  if job then return job end
end
return false
"""

# KEYS: crawlers. ARGV: the site's key prefix, a crawler id to requeue even when alive ('' for none),
# '1' when that crawler stopped cleanly. The jobs of every crawler whose lease expired go back to the
# head of their queue, in order, with ``attempt`` + 1; a clean stop's jobs go back as they were.
_REQUEUE = """
local moved = 0
for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if id == ARGV[2] or redis.call('EXISTS', ARGV[1] .. ':lease:' .. id) == 0 then
    local processing = ARGV[1] .. ':processing:' .. id
    local jobs = redis.call('LRANGE', processing, 0, -1)
    local clean = id == ARGV[2] and ARGV[3] == '1'
    for i = #jobs, 1, -1 do
      local job = cjson.decode(jobs[i])
      local kind = 'manual'
      if job['kind'] == 'bulk' then kind = 'bulk' end
      if clean then
        redis.call('LPUSH', ARGV[1] .. ':' .. kind, jobs[i])
      else
        job['attempt'] = (tonumber(job['attempt']) or 0) + 1
        redis.call('LPUSH', ARGV[1] .. ':' .. kind, cjson.encode(job))
      end
      moved = moved + 1
    end
    redis.call('DEL', processing)
    redis.call('SREM', KEYS[1], id)
    redis.call('DEL', ARGV[1] .. ':lease:' .. id)
  end
end
return moved
"""


def push(client: Any, job: SearchJob) -> Any:
    """Queue ``job`` at the tail of its site's ``kind`` list and wake the site's crawlers (one round trip)."""
    pipe = client.pipeline(transaction=False)
    push_commands(pipe, job)
    return pipe.execute()


def push_commands(pipe: Any, job: SearchJob) -> None:
    """:func:`push`'s commands, added to ``pipe`` (a service pushing a search's jobs at once)."""
    pipe.rpush(contract.queue_key(job.site, job.kind), job.encode())
    pipe.publish(contract.pushed_channel(job.site), job.kind)


def append(client: Any, search_id: str, entry: StreamEntry) -> Any:
    """Add ``entry`` to the search's stream and keep the stream another ``STREAM_TTL_SECONDS``."""
    key = contract.stream_key(search_id)
    pipe = client.pipeline(transaction=False)
    pipe.xadd(key, entry.fields())
    pipe.expire(key, contract.STREAM_TTL_SECONDS)
    return pipe.execute()


def read(client: Any, search_id: str, after: str = "-") -> Any:
    """The stream's raw entries after id ``after`` (``XRANGE``); parse with ``StreamEntry.from_fields``."""
    start = after if after == "-" else f"({after}"
    return client.xrange(contract.stream_key(search_id), min=start)


class SiteQueue:
    """One crawler's view of one site's queue."""

    def __init__(self, client: Any, site: str, crawler_id: str, lease_seconds: float) -> None:
        self.client = client
        self.site = site
        self.crawler_id = crawler_id
        self.lease_ms = int(lease_seconds * 1000)
        self._take = client.register_script(_TAKE)
        self._requeue = client.register_script(_REQUEUE)
        self.processing = contract.processing_key(site, crawler_id)

    def take(self, *, manual: bool, bulk: bool) -> Any:
        """The raw job moved into this crawler's processing list (manual first), or None."""
        keys = [
            contract.queue_key(self.site, "manual"),
            contract.queue_key(self.site, "bulk"),
            self.processing,
            contract.lease_key(self.site, self.crawler_id),
            contract.crawlers_key(self.site),
        ]
        return self._take(keys=keys, args=[int(manual), int(bulk), self.crawler_id, self.lease_ms])

    def heartbeat(self) -> Any:
        pipe = self.client.pipeline(transaction=True)
        pipe.set(contract.lease_key(self.site, self.crawler_id), "1", px=self.lease_ms)
        pipe.sadd(contract.crawlers_key(self.site), self.crawler_id)
        return pipe.execute()

    def requeue_dead(self, *, including_self: bool = False, clean: bool = False) -> Any:
        """Put the jobs of crawlers whose lease expired back at the head of the queue; the count.
        ``including_self``: this crawler's too (it is stopping); ``clean``: a normal stop, so its
        jobs go back without counting a delivery (a crash's do count, toward ``max_attempts``)."""
        prefix = f"{contract.KEY_PREFIX}:{self.site}"
        mine = self.crawler_id if including_self else ""
        return self._requeue(
            keys=[contract.crawlers_key(self.site)], args=[prefix, mine, int(including_self and clean)]
        )

    def finish(self, raw_job: str | bytes, search_id: str, entry: StreamEntry) -> Any:
        """Write the job's ending entry and drop it from the processing list, atomically."""
        key = contract.stream_key(search_id)
        pipe = self.client.pipeline(transaction=True)
        pipe.xadd(key, entry.fields())
        pipe.expire(key, contract.STREAM_TTL_SECONDS)
        pipe.lrem(self.processing, 1, raw_job)
        return pipe.execute()
