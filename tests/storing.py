"""Items written to the test store as a crawl writes them: through the store pipeline (``MongoPipeline``),
in this process, so its incremental matching (with whatever matcher the test installed) writes products."""

from __future__ import annotations

from typing import Any

from mongo_fixtures import run
from scrapy.utils.test import get_crawler

from looqta.pipelines.store import MongoPipeline


def crawl_in_process(settings: dict[str, Any], items: list[Any]) -> None:
    """``items`` through the store pipeline, opened and closed as one crawl."""

    async def main() -> None:
        crawler = get_crawler(settings_dict=settings)
        crawler.stats.open_spider()
        pipeline = MongoPipeline.from_crawler(crawler)
        await pipeline.open_spider()
        for item in items:
            await pipeline.process_item(item)
        await pipeline.close_spider()

    run(main())
