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
