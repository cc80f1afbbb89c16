from __future__ import annotations

from scrapy import Request
from scrapy.utils.test import get_crawler

from looqta.middlewares.slots import SiteSlotMiddleware
from looqta.spiders.amazon import AmazonSpider


def test_requests_to_the_site_share_the_site_slot_whatever_the_port() -> None:
    crawler = get_crawler(AmazonSpider)
    crawler.spider = AmazonSpider(q="x", base_url="http://127.0.0.1:8001")
    mw = SiteSlotMiddleware.from_crawler(crawler)
    own = Request("http://127.0.0.1:8001/s?k=x")
    other_port = Request("http://127.0.0.1:8002/uae-en/search?q=x")
    explicit = Request("http://127.0.0.1:8001/dp/1", meta={"download_slot": "mine"})
    for request in (own, other_port, explicit):
        mw.process_request(request)
    assert own.meta["download_slot"] == "amazon"
    assert "download_slot" not in other_port.meta
    assert explicit.meta["download_slot"] == "mine"
