"""A product shown twice in one crawl is one item."""

from __future__ import annotations

import pytest
from scrapy.exceptions import DropItem
from scrapy.utils.test import get_crawler

from looqta.items import ProductItem
from looqta.pipelines.dedup import DedupPipeline


def test_the_second_sighting_is_dropped_quietly_and_counted() -> None:
    crawler = get_crawler()
    crawler.stats.open_spider()
    pipeline = DedupPipeline.from_crawler(crawler)
    first = ProductItem(source="noon", source_id="N1", price=None)
    assert pipeline.process_item(first) is first
    assert pipeline.process_item(ProductItem(source="amazon", source_id="N1")) is not None  # another site
    with pytest.raises(DropItem, match="noon:N1 already yielded") as dropped:
        pipeline.process_item(ProductItem(source="noon", source_id="N1"))
    assert dropped.value.log_level == "DEBUG"
    assert crawler.stats.get_value("looqta/dedup/dropped") == 1
    nameless = ProductItem(source="noon")
    assert pipeline.process_item(nameless) is nameless  # no id: validation's to report
