"""Block pages are told apart from result pages by what they contain, then by status."""

from __future__ import annotations

import pytest

from looqta.blocks import BlockSignature, classify
from looqta.sandbox.blocks import Challenge, block_page
from looqta.spiders.amazon import AmazonSpider
from looqta.spiders.noon import NoonSpider


@pytest.mark.parametrize("kind", ["captcha", "interstitial", "server_error"])
def test_amazon_block_pages_are_recognised_at_any_status(kind: str) -> None:
    page = block_page("amazon", kind, "www.amazon.ae", "/s?k=x")
    for status in (200, 503):
        assert classify(status, page, AmazonSpider.block_signatures) == kind


def test_challenges_of_both_protections_are_recognised() -> None:
    for site, spider in (("amazon", AmazonSpider), ("noon", NoonSpider)):
        page = Challenge().page(site, 300)
        assert classify(200, page, spider.block_signatures) == "challenge"


def test_status_only_kinds_and_a_plain_page() -> None:
    assert classify(403, "<html>whatever</html>", ()) == "forbidden"
    assert classify(503, "<html>whatever</html>", ()) == "server_error"
    assert classify(404, "<html>Page Not Found</html>", ()) is None
    assert (
        classify(200, '<div data-component-type="s-search-result"></div>', AmazonSpider.block_signatures)
        is None
    )


def test_a_signature_needs_a_known_kind_and_something_to_match() -> None:
    with pytest.raises(ValueError, match="block kind"):
        BlockSignature("teapot", ("x",))
    with pytest.raises(ValueError, match="texts or statuses"):
        BlockSignature("captcha", ())


def test_challenge_cookie_rules() -> None:
    challenge = Challenge()
    good = "1700000000.abcdef:fedcba.0000000071"
    assert challenge.passes(good, 300, now=1700000100)
    assert not challenge.passes(good, 300, now=1700000400)  # expired
    assert not challenge.passes("1700000000.abcdef:wrong", 300, now=1700000100)
    assert challenge.passes(good, 0, now=1700000100)  # ttl 0: once
    assert not challenge.passes(good, 0, now=1700000100)


def test_a_protection_marker_in_a_full_result_page_is_not_a_block() -> None:
    page = "<script src='https://x.token.awswaf.com/sdk.js'></script>" + "<div>result</div>" * 5000
    assert len(page) > 50_000
    assert classify(200, page, AmazonSpider.block_signatures) is None
    small = "<script>window.gokuProps = {}</script><script src='awswaf/challenge.js'></script>"
    assert classify(200, small, AmazonSpider.block_signatures) == "challenge"
    book = "<h2>Access Denied: a thriller</h2><span>Reference books</span>" + "<p>more</p>" * 6000
    assert classify(200, book, AmazonSpider.block_signatures) is None


def test_a_block_reached_through_a_redirect_is_retried_at_the_url_asked_for() -> None:
    from scrapy import Request

    from looqta.middlewares.blocks import original

    landed = Request(
        "https://www.amazon.ae/errors/validateCaptcha",
        meta={
            "redirect_urls": ["https://www.amazon.ae/s?k=x"],
            "redirect_times": 1,
            "looqta_page_type": "search",
        },
    )
    asked = original(landed)
    assert asked.url == "https://www.amazon.ae/s?k=x"
    assert "redirect_urls" not in asked.meta
    assert "redirect_times" not in asked.meta
    assert asked.meta["looqta_page_type"] == "search"
    plain = Request("https://www.amazon.ae/s?k=y")
    assert original(plain) is plain


def test_every_component_of_a_crawl_shares_one_cooldown_keeper() -> None:
    from scrapy.utils.test import get_crawler

    from looqta.middlewares.blocks import BlockMiddleware
    from looqta.middlewares.retry_after import RetryAfterMiddleware

    crawler = get_crawler(settings_dict={"LOOQTA_BLOCKS_ENABLED": True})
    blocks, retry_after = BlockMiddleware(crawler), RetryAfterMiddleware(crawler)
    assert blocks.cooldown is retry_after.cooldown  # a short block cool-down cannot cut a Retry-After
    assert BlockMiddleware(get_crawler()).cooldown is not blocks.cooldown


def test_validation_runs_before_dedup() -> None:
    from scrapy.utils.project import get_project_settings

    pipelines = get_project_settings().getdict("ITEM_PIPELINES")
    # A first sighting that validation drops must not make a good second one a duplicate.
    assert (
        pipelines["looqta.pipelines.validate.ValidationPipeline"]
        < pipelines["looqta.pipelines.dedup.DedupPipeline"]
    )
