"""The one way to reach Redis: ``REDIS_URL``, or the embedded server when it is empty.

The same client code runs either way; only the URL differs. Clients are the caller's to close.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio

from looqta.redisstore.server import ensure_server

if TYPE_CHECKING:
    from looqta.redisstore.config import RedisConfig


def server_url(config: RedisConfig) -> str:
    """``REDIS_URL``, or the URL of the embedded server (started if none runs). Blocks."""
    if config.url:
        return config.url
    return ensure_server(config.data_dir, config.server_start_timeout_seconds).url


async def connect(config: RedisConfig) -> redis.asyncio.Redis:
    """An asyncio client that has answered a PING (the embedded server is found in a thread)."""
    url = await asyncio.to_thread(server_url, config)
    client = redis.asyncio.Redis.from_url(url, socket_connect_timeout=config.connect_timeout_seconds)
    try:
        await client.ping()
    except BaseException:
        await client.aclose()
        raise
    return client


def connect_sync(config: RedisConfig) -> redis.Redis:
    """A blocking client that has answered a PING; for command-line tools, tests and threads."""
    client = redis.Redis.from_url(server_url(config), socket_connect_timeout=config.connect_timeout_seconds)
    try:
        client.ping()
    except BaseException:
        client.close()
        raise
    return client


def redact(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for logs and status lines)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))
