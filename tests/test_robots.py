"""robots.txt is obeyed, except for the paths a site's owner permitted looqta in writing."""

from __future__ import annotations

import pytest
from scrapy import Spider
from scrapy.utils.test import get_crawler

from looqta.robots import PermittedRobotParser
from looqta.sandbox.sites.noon import ROBOTS_TXT


def parser(permitted: dict[str, list[str]]) -> tuple[PermittedRobotParser, object]:
    crawler = get_crawler(Spider, {"LOOQTA_ROBOTS_PERMITTED": permitted})
    crawler.spider = Spider(name="noon")
    crawler.stats.open_spider()
    return PermittedRobotParser.from_crawler(crawler, ROBOTS_TXT.encode()), crawler


def test_without_permission_every_rule_holds() -> None:
    rules, _ = parser({})
    assert not rules.allowed("https://www.noon.com/uae-en/search/?q=x", "looqta/0.1")
    assert not rules.allowed("https://www.noon.com/_svc/catalog/api/v3/search?q=x", "looqta/0.1")
    assert rules.allowed("https://www.noon.com/uae-en/some-phone/N12345678A/p/", "looqta/0.1")


def test_a_permission_opens_its_paths_only_and_is_counted() -> None:
    rules, crawler = parser({"noon": ["/uae-en/search"], "amazon": ["/_svc/"]})
    assert rules.allowed("https://www.noon.com/uae-en/search/?q=x", "looqta/0.1")
    assert not rules.allowed("https://www.noon.com/saudi-en/search/?q=x", "looqta/0.1")
    assert not rules.allowed("https://www.noon.com/_svc/x", "looqta/0.1")  # another spider's permission
    assert crawler.stats.get_value("looqta/robots/permitted") == 1


def test_a_bad_permission_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="list of paths starting with '/'"):
        parser({"noon": "/uae-en/search"})
