"""The one item looqta produces: a product offer seen on a site."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass
class ProductItem:
    """A product offer as seen on one site at one moment.

    ``price`` and ``rating`` are exact :class:`~decimal.Decimal` values (feeds
    write them as strings, so no float rounding reaches the consumer).
    ``files`` is filled by the file pipeline with one result record per
    downloaded file.
    """

    source: str | None = None
    source_id: str | None = None
    title: str | None = None
    price: Decimal | None = None
    currency: str | None = None
    rating: Decimal | None = None
    review_count: int | None = None
    url: str | None = None
    #: ``in_stock`` / ``out_of_stock`` when the product page says (``-a details=1``).
    availability: str | None = None
    #: The manufacturer's brand, where the site's markup names it (docs/sites.md says where).
    brand: str | None = None
    #: The manufacturer's model number (``SM-S928B``, ``MTUV3AH/A``), where the markup gives it.
    model: str | None = None
    #: The product's GTIN (EAN-13 / UPC), where the markup carries one.
    gtin: str | None = None
    image_urls: list[str] = field(default_factory=list)
    file_urls: list[str] = field(default_factory=list)
    scraped_at: str | None = None
    job: str | None = None
    files: list[dict[str, Any]] = field(default_factory=list)


#: Fields without which an item is not worth storing.
REQUIRED_FIELDS: tuple[str, ...] = ("source", "source_id", "title", "price", "currency", "url")
