"""The sandbox serves the real sites' structure (docs/sites.md), variants mixed as they are there."""

from __future__ import annotations

import json
import re
import urllib.parse
import urllib.request
from decimal import Decimal

import pytest
from parsel import Selector
from test_sandbox import fetch

from looqta.blocks import classify
from looqta.sandbox.blocks import CHALLENGE_COOKIE
from looqta.sandbox.catalogue import Catalogue
from looqta.sandbox.client import SandboxProcess
from looqta.sandbox.sites import amazon, amazon_product, noon
from looqta.sandbox.variants import has_offer
from looqta.spiders.amazon import AmazonSpider
from looqta.spiders.noon import NoonSpider

AMAZON = Catalogue("amazon")
NOON = Catalogue("noon")
CARD = 'div[data-component-type="s-search-result"]'


def _page(sandbox: SandboxProcess, site: str, path: str) -> Selector:
    status, _, body = fetch(sandbox.url(site, path))
    assert status == 200, path
    return Selector(text=body.decode())


def test_amazon_result_page_mixes_the_real_layouts(sandbox: SandboxProcess) -> None:
    """Both title layouts, sponsored /sspa/click cards, cards without an offer, three price spacings,
    abbreviated review counts with the exact count in aria-label, a hidden second heading."""
    page = _page(sandbox, "amazon", "/s?k=iphone&page=1")
    cards = page.css(CARD)
    result = AMAZON.search("iphone", 1, amazon.PAGE_SIZE)
    expected = amazon.result_cards(result, AMAZON.search_all("iphone"))
    assert [c.attrib["data-asin"] for c in cards] == [p.source_id for p, _ in expected]
    assert cards.css("a > h2[aria-label] > span")
    assert cards.css("h2 > a > span")
    assert not page.css("#productDocuments, [data-qa]")  # nothing the real page lacks
    sponsored = [c for c, (_, ad) in zip(cards, expected, strict=True) if ad]
    assert len(sponsored) == len(amazon.SPONSORED_SLOTS)
    for card in sponsored:
        href = card.css("a[href*='/sspa/click']::attr(href)").get()
        target = urllib.parse.parse_qs(urllib.parse.urlsplit(href).query)["url"][0]
        assert f"/dp/{card.attrib['data-asin']}/" in target
        assert "Sponsored" in card.css(".puis-sponsored-label-text::text").get()
    offscreen = page.css(".a-price:not(.a-text-price) > .a-offscreen::text").getall()
    assert {re.match(r"AED(\s?)", t).group(1) for t in offscreen} == {"", " ", "\xa0"}
    assert page.css("[data-cy=secondary-offer-recipe]") or all(
        has_offer("amazon", p.source_id) for p, _ in expected
    )
    for card in cards:
        product = AMAZON.get(card.attrib["data-asin"])
        assert product is not None
        if product.rating is not None:
            label = card.css("a[aria-label$='ratings']::attr(aria-label)").get()
            assert label == f"{product.review_count:,} ratings"
    shown = [  # abbreviated on some cards (of all pages: a page may have no count over 1,000)
        text
        for number in range(1, result.pages + 1)
        for text in _page(sandbox, "amazon", f"/s?k=iphone&page={number}")
        .css("[data-cy=reviews-block] a[aria-label$='ratings'] span::text")
        .getall()
    ]
    assert any(re.fullmatch(r"\(\d+(\.\d)?K\)", s) for s in shown)


def test_amazon_product_page_price_blocks(sandbox: SandboxProcess) -> None:
    """Each of the current price blocks appears, including an empty ``.a-offscreen``."""
    seen: set[str] = set()
    for product in AMAZON.products[:60]:
        if not has_offer("amazon", product.source_id):
            continue
        page = _page(sandbox, "amazon", f"/dp/{product.source_id}")
        block = amazon_product.price_block(product)
        seen.add(block)
        assert page.css("#productTitle::text").get().strip() == product.title
        if block == "core_price":
            assert (
                page.css("#corePrice_feature_div .a-offscreen::text").get() == f"AED\xa0{product.price:,.2f}"
            )
        else:
            assert page.css(".priceToPay .a-offscreen::text").get() in (None, f"AED\xa0{product.price:,.2f}")
            whole = page.css(".priceToPay .a-price-whole::text").get()
            assert whole == f"{product.price:,.2f}".split(".")[0]
        assert page.css("#productDocuments_feature_div a[href$='.pdf']")
        assert page.css("#availability .primary-availability-message::text").get() == "In Stock"
    assert seen == set(amazon_product.PRICE_BLOCKS)


def test_noon_listing_is_server_rendered_with_data_qa_and_no_currency_text(sandbox: SandboxProcess) -> None:
    page = _page(sandbox, "noon", "/uae-en/search/?q=iphone&page=1")
    result = NOON.search("iphone", 1, noon.PAGE_SIZE)
    boxes = page.css('[data-qa="plp-product-box"]')
    skus = [re.search(r"/([A-Z0-9]+)/p/", b.css("a::attr(href)").get()).group(1) for b in boxes]
    assert len(skus) == len(result.products) + 1  # one SKU shown twice (two sellers' offers)
    assert len(set(skus)) == len(result.products)
    assert not page.css("[data-qa=product-list], a[rel=next]")  # no invented list or next link
    prices = page.css("[data-qa=plp-product-box-price]")
    assert prices
    assert all(p.css("[class*=currency]::text").get() in (None, noon.CURRENCY_GLYPH) for p in prices)
    assert "AED" not in "".join(page.css("[data-qa=plp-product-box-price] ::text").getall())
    beyond = _page(sandbox, "noon", f"/uae-en/search/?q=iphone&page={result.pages + 1}")
    assert not beyond.css('[data-qa="plp-product-box"]')
    assert beyond.css("[data-qa=plp-no-results]")


def test_noon_class_names_change_with_the_build() -> None:
    """Hashed CSS-module names differ per build; the stable middle word stays."""
    styles = {noon.class_style(b) for b in ("current", "b1", "b2", "b3", "b4", "b5", "b6")}
    assert styles == set(noon.CLASS_STYLES)
    names = {noon.css(b, "Price", "amount") for b in ("current", "b1", "b2", "b3")}
    assert len(names) == 4
    assert all("amount" in n for n in names)
    product = NOON.products[0]
    with SandboxProcess(sites=("noon",), extra_args=("--build", "b1")) as other:
        html = fetch(other.url("noon", f"/uae-en/search/?q={urllib.parse.quote(product.title)}"))[2].decode()
    assert noon.css("b1", "Price", "amount") in html
    assert noon.css("current", "Price", "amount") not in html


def test_noon_product_page_json_ld(sandbox: SandboxProcess) -> None:
    in_stock = next(p for p in NOON.products if has_offer("noon", p.source_id))
    out = next(p for p in NOON.products if not has_offer("noon", p.source_id))
    for product, availability in ((in_stock, "InStock"), (out, "OutOfStock")):
        page = _page(sandbox, "noon", noon.product_path(product))
        blocks = [json.loads(t) for t in page.css('script[type="application/ld+json"]::text').getall()]
        data = next(b for b in blocks if b["@type"] == "Product")
        assert data["sku"] == product.source_id
        assert data["name"] == product.title
        assert data["offers"]["availability"] == f"https://schema.org/{availability}"
        expected = Decimal(str(data["offers"]["price"]))
        assert expected == (product.price if availability == "InStock" else 0)
        assert data["offers"]["priceCurrency"] == "AED"


def test_noon_robots_txt_disallows_search_and_internal_apis(sandbox: SandboxProcess) -> None:
    from protego import Protego

    rules = Protego.parse(fetch(sandbox.url("noon", "/robots.txt"))[2].decode())
    base = sandbox.url("noon")
    assert not rules.can_fetch(f"{base}/uae-en/search/?q=iphone", "looqta")
    assert not rules.can_fetch(f"{base}/_svc/catalog/api/v3/search?q=x", "looqta")
    assert rules.can_fetch(f"{base}{noon.product_path(NOON.products[0])}", "looqta")


@pytest.mark.parametrize(
    ("site", "kind", "status", "signatures", "by_content"),
    [
        ("amazon", "captcha", 200, AmazonSpider.block_signatures, True),
        ("amazon", "interstitial", 200, AmazonSpider.block_signatures, True),
        ("amazon", "server_error", 503, AmazonSpider.block_signatures, True),
        ("amazon", "forbidden", 403, AmazonSpider.block_signatures, True),
        ("noon", "forbidden", 403, NoonSpider.block_signatures, True),
        # No capture of noon's own error page exists (docs/sites.md): recognised by status only.
        ("noon", "server_error", 503, NoonSpider.block_signatures, False),
    ],
)
def test_each_block_kind_is_served_and_recognised(
    clean_sandbox: SandboxProcess, site: str, kind: str, status: int, signatures: tuple, by_content: bool
) -> None:
    path = "/s?k=iphone" if site == "amazon" else "/uae-en/search/?q=iphone"
    clean_sandbox.set_faults(site, blocks={kind: 1.0})
    got, _, body = fetch(clean_sandbox.url(site, path))
    assert got == status
    assert classify(got, body.decode(), signatures) == kind
    if by_content:
        clean_sandbox.set_faults(site, blocks={kind: 1.0}, block_status={kind: 200})
        got, _, body = fetch(clean_sandbox.url(site, path))
        assert got == 200
        assert classify(200, body.decode(), signatures) == kind  # recognised by content
    clean_sandbox.clear_faults(site)
    got, _, body = fetch(clean_sandbox.url(site, path))
    assert got == 200
    assert classify(got, body.decode(), signatures) is None


def test_block_share_is_honoured(clean_sandbox: SandboxProcess) -> None:
    clean_sandbox.set_faults("amazon", blocks={"captcha": 0.2}, block_seed=3)
    statuses = []
    for _ in range(200):
        body = fetch(clean_sandbox.url("amazon", "/s?k=iphone"))[2].decode()
        statuses.append(classify(200, body, AmazonSpider.block_signatures))
    assert 20 <= statuses.count("captcha") <= 60
    assert clean_sandbox.faults("amazon")["blocked"] == {"captcha": statuses.count("captcha")}


def test_challenge_never_passes_without_script_and_its_cookie_passes(clean_sandbox: SandboxProcess) -> None:
    clean_sandbox.set_faults("noon", challenge=1.0, challenge_ttl_seconds=0)
    url = clean_sandbox.url("noon", "/uae-en/search/?q=iphone")
    for _ in range(3):  # a client that runs no script gets the challenge every time
        body = fetch(url)[2].decode()
        assert classify(200, body, NoonSpider.block_signatures) == "challenge"
    nonce = re.search(r'var nonce = "([^"]+)"', body).group(1)
    cookie = f"{CHALLENGE_COOKIE}={nonce}:{nonce[::-1]}"
    request = urllib.request.Request(url, headers={"Cookie": cookie})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as first:
        assert b"plp-product-box" in first.read()
    with opener.open(request, timeout=10) as again:  # ttl 0: the token passes once only
        assert classify(200, again.read().decode(), NoonSpider.block_signatures) == "challenge"
