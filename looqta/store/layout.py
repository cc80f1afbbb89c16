"""The store's layout across versions: an older store is brought up to date when it is opened.

Until issue 21 the collection of offers (one document per site listing) was called ``products``;
``products`` now holds one document per product, offers matched across sites
(``looqta.match.products``). An old store is told apart by its offer index (``product_key``, on
``source`` + ``source_id``) on ``products``: that collection is renamed ``offers`` once, indexes
and all (``renameCollection``, which SecantusDB and MongoDB both do in one step). Two processes
opening an old store at once both try; the loser finds the work done.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pymongo.errors import OperationFailure

if TYPE_CHECKING:
    from pymongo.asynchronous.database import AsyncDatabase

logger = logging.getLogger(__name__)

#: The old name of the offers collection, and the name of its unique offer index.
OLD_OFFERS = "products"
OFFER_INDEX = "product_key"
#: renameCollection's "source namespace does not exist" and "target namespace exists".
_RACE_CODES = frozenset({26, 48})


async def is_old_layout(database: AsyncDatabase[dict[str, Any]]) -> bool:
    """Whether ``products`` still holds offers (the layout before issue 21)."""
    if OLD_OFFERS not in await database.list_collection_names():
        return False
    return OFFER_INDEX in await database[OLD_OFFERS].index_information()


async def migrate(database: AsyncDatabase[dict[str, Any]], offers: str) -> bool:
    """Rename an old ``products`` collection of offers to ``offers``; True when this call did it."""
    if not await is_old_layout(database):
        return False
    if offers in await database.list_collection_names():
        raise RuntimeError(
            f"the store {database.name!r} holds both an old {OLD_OFFERS!r} collection of offers and "
            f"{offers!r}: merge or drop one by hand (docs/store.md, 'Layout')"
        )
    name = database.name
    try:
        await database.client.admin.command("renameCollection", f"{name}.{OLD_OFFERS}", to=f"{name}.{offers}")
    except OperationFailure as error:
        if error.code not in _RACE_CODES:
            raise
        logger.info("Store %r: another process renamed %r first", name, OLD_OFFERS)
        return False
    logger.warning("Store %r: the offers collection %r renamed %r (issue 21)", name, OLD_OFFERS, offers)
    return True
