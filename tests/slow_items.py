"""An item pipeline that holds every item a while (run by crawls the tests start; importable from tests/)."""

from __future__ import annotations

import asyncio
from typing import Any

#: How long each item waits here: longer than a search takes without it.
HOLD_SECONDS = 3.0


class SlowItemsPipeline:
    async def process_item(self, item: Any) -> Any:
        await asyncio.sleep(HOLD_SECONDS)
        return item
