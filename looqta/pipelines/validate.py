"""Drop items that miss a required field or carry an impossible value."""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from itemadapter import ItemAdapter
from scrapy.exceptions import DropItem

from looqta.items import REQUIRED_FIELDS

if TYPE_CHECKING:
    from typing import Self

    from scrapy.crawler import Crawler

logger = logging.getLogger(__name__)


def problems(adapter: ItemAdapter) -> list[str]:
    """Why an item cannot be kept, as short stat-friendly reasons; empty when it is fine."""
    found = [f"missing_{name}" for name in REQUIRED_FIELDS if adapter.get(name) in (None, "")]
    price = adapter.get("price")
    if isinstance(price, Decimal) and (not price.is_finite() or price <= 0):
        found.append("bad_price")
    rating = adapter.get("rating")
    if isinstance(rating, Decimal) and not Decimal(0) <= rating <= Decimal(5):
        found.append("bad_rating")
    return found


class ValidationPipeline:
    def __init__(self, crawler: Crawler) -> None:
        self.stats = crawler.stats

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_item(self, item: Any) -> Any:
        adapter = ItemAdapter(item)
        found = problems(adapter)
        if not found:
            self.stats.inc_value("looqta/validate/ok")
            return item
        self.stats.inc_value("looqta/validate/dropped")
        for reason in found:
            self.stats.inc_value(f"looqta/validate/dropped/{reason}")
        raise DropItem(
            f"{adapter.get('source')}:{adapter.get('source_id')} at {adapter.get('url')}: {', '.join(found)}"
        )
