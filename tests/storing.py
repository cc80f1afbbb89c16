"""Items written to the test store as a crawl writes them: through the store pipeline (``MongoPipeline``),
in this process, so its incremental matching (with whatever matcher the test installed) writes products."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mongo_fixtures import run
from scrapy.utils.test import get_crawler

from looqta.pipelines.store import MongoPipeline

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


def crawl_in_process(settings: dict[str, Any], items: list[Any]) -> Crawler:
    """``items`` through the store pipeline, opened and closed as one crawl (the crawler: its stats)."""

    async def main() -> Crawler:
        crawler = get_crawler(settings_dict=settings)
        crawler.stats.open_spider()
        pipeline = MongoPipeline.from_crawler(crawler)
        await pipeline.open_spider()
        for item in items:
            await pipeline.process_item(item)
        await pipeline.close_spider()
        return crawler

    return run(main())
