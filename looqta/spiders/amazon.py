"""amazon.ae product search (markup and its evidence: docs/sites.md, "amazon").

Items come from the search result cards: ASIN, title, price, currency, rating, review count,
image and the canonical ``/dp/<ASIN>`` URL. ``-a details=1`` also reads each product page
(price block, availability, full-size image, brand and model number, "Product guides and documents")
into the same item. Result cards name no brand apart from the title, so search items carry none.
Sponsored cards link through ``/sspa/click?...&url=...``; the ASIN comes from the card itself.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from looqta.blocks import BlockSignature
from looqta.extract import (
    RESULT_PARSERS,
    Fallback,
    Source,
    css,
    extract,
    joined,
    parse_count,
    parse_price,
    parse_rating,
    parse_text,
    value,
    xpath,
)
from looqta.spiders.base import PageType, SearchArgs, SearchSpider

if TYPE_CHECKING:
    from collections.abc import Iterator

    import scrapy
    from scrapy.http import Response

    from looqta.items import ProductItem

CARD = 'div[data-component-type="s-search-result"]'
NO_RESULTS = ".s-no-results-result, [data-component-type='s-messaging-widget-results-header']"
NEXT_PAGE = "a.s-pagination-next::attr(href)"
_ASIN = re.compile(r"^[A-Z0-9]{10}$")
_ASIN_IN_PATH = re.compile(r"/dp/([A-Z0-9]{10})")
_SPONSORED_PREFIX = re.compile(r"^Sponsored Ad\s*[-\u2013\u2014]\s*")
_BYLINE = re.compile(r"^(?:Visit the (?P<store>.+?) Store|Brand:\s*(?P<brand>.+))$")
#: A value of the "Product information" table, by its row's label.
_DETAIL_ROW = "//table[contains(@class, 'prodDetTable')]//tr[normalize-space(th)='{}']/td//text()"
#: A value of the older "Product details" bullets: ``<span>Label : </span> <span>value</span>``.
_DETAIL_BULLET = "//*[@id='detailBullets_feature_div']//span[contains(text(), '{}')]/../span[last()]//text()"


def _brand(raw: Any) -> str | None:
    """``Visit the Apple Store`` / ``Brand: Apple`` (the byline) or a table's ``Apple`` -> ``Apple``."""
    text = " ".join(str(raw).split())
    match = _BYLINE.match(text)
    if match:
        text = match.group("store") or match.group("brand")
    return text or None


def _title(raw: Any) -> str | None:
    text = " ".join(str(raw).split())
    return _SPONSORED_PREFIX.sub("", text) or None


def _asin(raw: Any) -> str | None:
    text = str(raw).strip()
    if _ASIN.match(text):
        return text
    match = _ASIN_IN_PATH.search(text.replace("%2F", "/"))
    return match.group(1) if match else None


def _largest_image(source: Source) -> str | None:
    """The largest image of ``#landingImage``'s ``data-a-dynamic-image`` map."""
    raw = source.css("#landingImage::attr(data-a-dynamic-image)").get()
    try:
        sizes = json.loads(raw) if raw else {}
    except ValueError:
        return None
    if not isinstance(sizes, dict) or not sizes:
        return None
    return max(sizes, key=lambda url: sizes[url][0] if isinstance(sizes[url], list) and sizes[url] else 0)


SEARCH_CARD_FIELDS: dict[str, tuple[Fallback, ...]] = {
    "source_id": (css("::attr(data-asin)", "data-asin"), css("a[href*='/dp/']::attr(href)", "link")),
    "title": (
        css("[data-cy=title-recipe] a > h2 > span::text", "a>h2>span"),
        css("[data-cy=title-recipe] h2 > a > span::text", "h2>a>span"),
        css("a > h2::attr(aria-label)", "h2[aria-label]"),
        css("h2 a span::text", "h2 a span"),
        css("img.s-image::attr(alt)", "img[alt]"),
    ),
    "price": (
        css(".a-price:not(.a-text-price) > .a-offscreen::text", "a-price>a-offscreen"),
        joined("[data-cy=price-recipe] .a-price:not(.a-text-price) > span[aria-hidden]", "whole+fraction"),
    ),
    "currency": (
        css(".a-price:not(.a-text-price) > .a-offscreen::text", "a-price>a-offscreen"),
        css(".a-price:not(.a-text-price) .a-price-symbol::text", "a-price-symbol"),
    ),
    "rating": (
        css("i[class*=a-icon-star] .a-icon-alt::text", "a-icon-alt"),
        css("[data-cy=reviews-block] a[aria-label*='out of 5']::attr(aria-label)", "stars[aria-label]"),
    ),
    "review_count": (
        css("[data-cy=reviews-block] a[aria-label$='ratings']::attr(aria-label)", "ratings[aria-label]"),
        css("a[aria-label$='ratings']::attr(aria-label)", "a[aria-label]"),
        css("a[href*='customerReviews'] span::text", "reviews-link-text"),
    ),
    "image": (css("img.s-image::attr(src)", "img.s-image"),),
}
SEARCH_CARD_PARSERS = {**RESULT_PARSERS, "source_id": _asin, "title": _title}

PRODUCT_FIELDS: dict[str, tuple[Fallback, ...]] = {
    "price": (
        css("#twister-plus-price-data-price::attr(value)", "twister-price"),
        css("#corePrice_feature_div .a-price:not(.a-text-price) .a-offscreen::text", "corePrice"),
        css("#corePriceDisplay_desktop_feature_div .priceToPay .a-offscreen::text", "priceToPay"),
        css("#apex-pricetopay-accessibility-label::text", "accessibility-label"),
        css("#corePriceDisplay_desktop_feature_div .aok-offscreen::text", "aok-offscreen"),
        joined("#corePriceDisplay_desktop_feature_div .priceToPay > span[aria-hidden]", "whole+fraction"),
    ),
    "availability": (
        css("#availability .primary-availability-message::text", "primary-availability"),
        css("#availability span::text", "availability"),
    ),
    "image": (
        css("#landingImage::attr(data-old-hires)", "data-old-hires"),
        Fallback("data-a-dynamic-image", _largest_image),
        css("#landingImage::attr(src)", "landingImage"),
    ),
    "title": (css("#productTitle::text", "productTitle"),),
    "brand": (
        xpath("//tr[contains(@class, 'po-brand')]/td[2]//text()", "po-brand"),
        xpath(_DETAIL_ROW.format("Brand"), "prodDetTable Brand"),
        css("#bylineInfo::text", "bylineInfo"),
    ),
    "model": (
        xpath(_DETAIL_ROW.format("Model Number"), "prodDetTable Model Number"),
        xpath(_DETAIL_ROW.format("Item model number"), "prodDetTable Item model number"),
        xpath(_DETAIL_BULLET.format("Item model number"), "detailBullets Item model number"),
        xpath(_DETAIL_ROW.format("Mfr Part Number"), "prodDetTable Mfr Part Number"),
    ),
    "rating": (css("#acrPopover::attr(title)", "acrPopover"),),
    "review_count": (css("#acrCustomerReviewText::text", "acrCustomerReviewText"),),
}
PRODUCT_PARSERS = {
    "price": parse_price,
    "rating": parse_rating,
    "review_count": parse_count,
    "brand": _brand,
    "model": parse_text,
}
DOCUMENT_LINKS = (
    "#productDocuments_feature_div a[href$='.pdf']::attr(href)",
    "#productDocuments_feature_div a[href*='.pdf']::attr(href)",
)


def availability(text: str | None) -> str | None:
    """``In Stock`` -> ``in_stock``; ``Currently unavailable.`` -> ``out_of_stock``."""
    if not text:
        return None
    lowered = text.lower()
    if "unavailable" in lowered or "out of stock" in lowered:
        return "out_of_stock"
    return "in_stock" if "in stock" in lowered or "left in stock" in lowered else None


class AmazonSpider(SearchSpider):
    name = "amazon"
    default_base_url = "https://www.amazon.ae"
    download_slot = {"concurrency": 2, "delay": 1.0, "jitter": 0.5}
    cdn_origins = ("https://m.media-amazon.com",)
    #: amazon.ae sells in dirhams; the currency when a card's price text names none.
    site_currency = "AED"
    page_types = {
        "search": PageType("search", ("source_id", "title", "price", "currency"), f"{CARD}, {NO_RESULTS}"),
        "product": PageType("product", ("title",), "#productTitle, #dp"),
    }
    block_signatures = (
        BlockSignature("captcha", ("/errors/validateCaptcha", "captchacharacters")),
        BlockSignature("captcha", ("Enter the characters you see below",)),
        BlockSignature("interstitial", ("/errors/validateCaptcha",)),
        BlockSignature("interstitial", ("Click the button below to continue shopping",)),
        BlockSignature("server_error", ("Sorry! Something went wrong!",)),
        BlockSignature("captcha", ("api-services-support@amazon.com",)),
    )

    def search_url(self, args: SearchArgs, page: int) -> str:
        return f"{self.base_url}/s?{urlencode({'k': args.q, 'page': page})}"

    def search_start(self, args: SearchArgs) -> Iterator[scrapy.Request]:
        yield self.page_request(
            self.search_url(args, 1), "search", self.parse_search, args, cb_kwargs={"page": 1}
        )

    def parse_search(self, response: Response, page: int) -> Iterator[Any]:
        args = self.search_args(response)
        chains = {
            **SEARCH_CARD_FIELDS,
            "currency": (*SEARCH_CARD_FIELDS["currency"], value(self.site_currency, "site")),
        }
        for card in response.css(CARD):
            found = extract(card, "search", chains, SEARCH_CARD_PARSERS)
            found.count_into(self.crawler.stats)
            if found.get("price") is None and card.css("[data-cy=secondary-offer-recipe]"):
                self.crawler.stats.inc_value("looqta/fields/search/no_offer")
                continue  # the site shows no offer for it: nothing to compare
            asin = found.get("source_id")
            url = f"{self.base_url}/dp/{asin}" if asin else None
            yield self.item_or_details(self.result_item(found, url, response), self.parse_product, args)
        next_href = response.css(NEXT_PAGE).get()
        if next_href and args.allows_page(page + 1):
            yield self.page_request(
                response.urljoin(next_href), "search", self.parse_search, args, cb_kwargs={"page": page + 1}
            )

    def parse_product(self, response: Response, item: ProductItem) -> Iterator[ProductItem]:
        found = extract(response.selector, "product", PRODUCT_FIELDS, PRODUCT_PARSERS)
        found.count_into(self.crawler.stats)
        item = self.merge_details(item, found, response)
        item.availability = availability(found.get("availability"))
        documents = next((links for q in DOCUMENT_LINKS if (links := response.css(q).getall())), [])
        item.file_urls = [response.urljoin(link) for link in documents]
        yield item
