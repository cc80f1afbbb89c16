"""How often each normalised query was asked, counted in Redis so every service process shares it.

Counts age by window: one sorted set per window of ``window_seconds`` (the refresh interval),
``looqta:search:asks:<window index>``, member the normalised query, score its asks. The most asked
are read from the current window plus the previous one weighted by the part of it still inside the
last ``window_seconds`` (a sliding window, approximated): an ask counts fully for one interval and
then fades out over the next. A window key expires after two windows; each keeps its
:data:`MAX_QUERIES_PER_WINDOW` most asked queries (the least asked are dropped).
"""

from __future__ import annotations

from typing import Any

from looqta.search.contract import KEY_PREFIX
from looqta.serve.query import normalised

ASKS_PREFIX = f"{KEY_PREFIX}:asks"
MAX_QUERIES_PER_WINDOW = 10_000

# KEYS: current window, previous window, a scratch key. ARGV: the previous window's weight, how many.
_TOP = """
redis.call('ZUNIONSTORE', KEYS[3], 2, KEYS[1], KEYS[2], 'WEIGHTS', 1, ARGV[1])
local top = redis.call('ZREVRANGE', KEYS[3], 0, tonumber(ARGV[2]) - 1, 'WITHSCORES')
redis.call('DEL', KEYS[3])
return top
"""


def window_key(index: int) -> str:
    return f"{ASKS_PREFIX}:{index}"


def windows(now: float, window_seconds: float) -> tuple[int, float]:
    """The index of the window ``now`` is in, and the previous window's weight (1 → 0 as it ends)."""
    index = int(now // window_seconds)
    return index, 1.0 - (now - index * window_seconds) / window_seconds


async def count(client: Any, query: str, now: float, window_seconds: float) -> None:
    """One ask of ``query`` (one round trip)."""
    key = window_key(windows(now, window_seconds)[0])
    pipe = client.pipeline(transaction=False)
    pipe.zincrby(key, 1, normalised(query))
    pipe.expire(key, int(2 * window_seconds) + 60)
    pipe.zremrangebyrank(key, 0, -(MAX_QUERIES_PER_WINDOW + 1))
    await pipe.execute()


async def top(client: Any, now: float, window_seconds: float, how_many: int) -> list[tuple[str, float]]:
    """The ``how_many`` most asked normalised queries and their (weighted) asks, most asked first."""
    index, weight = windows(now, window_seconds)
    keys = [window_key(index), window_key(index - 1), f"{ASKS_PREFIX}:scratch"]
    flat = await client.eval(_TOP, len(keys), *keys, weight, how_many)
    pairs = zip(flat[::2], flat[1::2], strict=True)
    return [(_text(member), float(score)) for member, score in pairs]


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
