from __future__ import annotations

from types import SimpleNamespace

import pytest
from scrapy import Request, Spider, signals
from scrapy.core.downloader import Slot
from scrapy.http import Response
from scrapy.utils.test import get_crawler
from twisted.python.failure import Failure

from looqta.extensions.autothrottle import SiteAutoThrottle


@pytest.mark.parametrize(("key", "expected"), [("amazon", 1.0), ("cdn.example", 0.5005)])
def test_site_delay_is_a_floor_autothrottle_never_goes_under(key: str, expected: float) -> None:
    crawler = get_crawler(
        settings_dict={
            "AUTOTHROTTLE_ENABLED": True,
            "DOWNLOAD_SLOTS": {"amazon": {"delay": 1.0}},
            "EXTENSIONS": {"scrapy.extensions.throttle.AutoThrottle": None},  # as in looqta.settings
        }
    )
    throttle = SiteAutoThrottle(crawler)
    throttle.mindelay, throttle.maxdelay = 0.0, 60.0
    slot = Slot(concurrency=2, delay=1.0, jitter=0.0)
    crawler.engine = SimpleNamespace(downloader=SimpleNamespace(slots={key: slot}))  # type: ignore[assignment]
    request = Request("http://127.0.0.1/", meta={"download_latency": 0.001, "download_slot": key})
    response = Response(request.url, status=200, request=request)
    results = crawler.signals.send_catch_log(
        signals.response_downloaded, response=response, request=request, spider=Spider("s")
    )
    assert not [result for _, result in results if isinstance(result, Failure)]
    # A fast answer halves an unfloored slot's delay ((1.0 + 0.001/1) / 2); the site's stays.
    assert slot.delay == pytest.approx(expected)
