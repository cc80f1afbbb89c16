from __future__ import annotations

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.settings import Settings
from scrapy.utils.test import get_crawler

from looqta.middlewares.slots import SiteSlotMiddleware, add_site_slot
from looqta.spiders.amazon import AmazonSpider
from looqta.spiders.noon import NoonSpider


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


def test_a_spiders_download_slot_is_its_site_slot_by_default() -> None:
    crawler = get_crawler(AmazonSpider)
    assert crawler.settings.getdict("DOWNLOAD_SLOTS")["amazon"] == AmazonSpider.download_slot


def test_an_explicit_download_slots_entry_wins_and_others_get_the_spider_default() -> None:
    mine = {"concurrency": 1, "delay": 3.0}
    crawler = get_crawler(AmazonSpider, {"DOWNLOAD_SLOTS": {"amazon": mine, "cdn": {"delay": 2.0}}})
    assert crawler.settings.getdict("DOWNLOAD_SLOTS") == {"amazon": mine, "cdn": {"delay": 2.0}}
    noon = get_crawler(NoonSpider, {"DOWNLOAD_SLOTS": {"amazon": mine}})
    assert noon.settings.getdict("DOWNLOAD_SLOTS") == {"amazon": mine, "noon": NoonSpider.download_slot}


def test_a_higher_priority_download_slots_still_replaces_the_default() -> None:
    settings = Settings()
    add_site_slot(settings, "amazon", {"concurrency": 2})
    settings.set("DOWNLOAD_SLOTS", {"noon": {"concurrency": 1}}, priority="cmdline")
    assert settings.getdict("DOWNLOAD_SLOTS") == {"noon": {"concurrency": 1}}


def test_the_default_survives_the_process_settings_applied_again() -> None:
    process = Settings({"DOWNLOAD_SLOTS": {"amazon": {"concurrency": 8}}}, priority="cmdline")
    crawler = Crawler(NoonSpider, process)
    crawler.settings.update(process)  # what Scrapy 2.19's CrawlerProcess.create_crawler does
    assert crawler.settings.getdict("DOWNLOAD_SLOTS")["noon"] == NoonSpider.download_slot
