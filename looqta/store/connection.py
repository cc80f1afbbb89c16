"""How looqta reaches the store: ``MONGO_URI``, or the embedded server when it is empty."""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pymongo import AsyncMongoClient

from looqta.store.embedded import ensure_server
from looqta.store.repository import ProductRepository

if TYPE_CHECKING:
    from looqta.store.config import StoreConfig

logger = logging.getLogger(__name__)

_USERINFO = re.compile(r"(?<=://)[^@/]*@")


@dataclass
class StoreConnection:
    uri: str
    client: AsyncMongoClient[dict[str, Any]]
    repository: ProductRepository

    async def close(self) -> None:
        await self.client.close()


def describe(error: Exception) -> str:
    """A pymongo error in one line, without the topology dump that follows the reason (a bulk
    write error, which repeats its operations, cut at 1,000 characters)."""
    return str(error).split(", Topology Description")[0][:1000]


def redact(uri: str) -> str:
    """``uri`` without its user name and password, for logs and messages."""
    return _USERINFO.sub("***@", uri)


async def connect(config: StoreConfig) -> StoreConnection:
    """A client on the configured store, starting the embedded server first when ``MONGO_URI`` is empty.

    Nothing is sent to the server yet: an unreachable server shows on the first call.
    """
    if config.embedded:
        state = await asyncio.to_thread(
            ensure_server, config.data_dir, config.server_start_timeout_seconds, config.server_idle_seconds
        )
        uri = state.uri
    else:
        uri = config.uri
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        uri,
        serverSelectionTimeoutMS=int(config.connect_timeout_seconds * 1000),
        connectTimeoutMS=int(config.connect_timeout_seconds * 1000),
        socketTimeoutMS=int(config.write_timeout_seconds * 1000),
        tz_aware=True,
        appname="looqta",
    )
    logger.info("Store: database %r at %s", config.database, redact(uri))
    return StoreConnection(uri, client, ProductRepository(client[config.database]))
