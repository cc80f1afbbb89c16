"""noon.com product search (markup and its evidence: docs/sites.md, "noon").

Listings are server-rendered: items come from the product boxes (``data-qa`` attributes first,
then class names matched by their stable middle word, never a whole hashed name). The SKU is the
link's path segment before ``/p/``; the price carries no currency text (a glyph), so the
currency comes from the locale. There is no "next" link: the page after the last is empty.
``-a details=1`` also reads each product page's JSON-LD ``Product`` into the item (its brand,
model number and, where it carries one, GTIN: tiles name none of them).

robots.txt: noon's disallows its internal APIs (``/_svc/``, ``/_vs/``, ``/_serverFn/``), which
this spider never calls, and, since 2026, search pages for crawlers it does not name
(docs/sites.md, "robots.txt"); ``LOOQTA_ROBOTS_PERMITTED`` records a permission to read them.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from looqta.blocks import SMALL_BODY_CHARS, BlockSignature
from looqta.extract import (
    RESULT_PARSERS,
    Fallback,
    css,
    extract,
    ld,
    parse_count,
    parse_gtin,
    parse_price,
    parse_rating,
    parse_text,
    value,
)
from looqta.spiders.base import PageType, SearchArgs, SearchSpider, SpiderArgumentError

if TYPE_CHECKING:
    from collections.abc import Iterator

    import scrapy
    from scrapy.http import Response

    from looqta.items import ProductItem

BOX = '[data-qa="plp-product-box"], [data-qa="product-block"], span.productContainer'
NO_RESULTS = '[data-qa="plp-no-results"]'
#: The currency of each storefront locale (its prices show a glyph or nothing, not a code).
LOCALE_CURRENCY = {"uae": "AED", "saudi": "SAR", "egypt": "EGP"}
_SKU_IN_PATH = re.compile(r"/([A-Z0-9]{8,24})/p/?(?:[?#]|$)")
_LOCALE = re.compile(r"^[a-z]+-[a-z]{2}$")


def _sku(raw: Any) -> str | None:
    text = str(raw).strip()
    if text.startswith("productBox-"):
        return text.removeprefix("productBox-") or None
    match = _SKU_IN_PATH.search(urlsplit(text).path + "?")
    return match.group(1) if match else None


def _stock(raw: Any) -> str | None:
    text = str(raw)
    if text.endswith("OutOfStock") or text.endswith("SoldOut"):
        return "out_of_stock"
    return "in_stock" if text.endswith("InStock") else None


BOX_FIELDS: dict[str, tuple[Fallback, ...]] = {
    "source_id": (
        css("a[href*='/p/']::attr(href)", "link"),
        css("a[id^='productBox-']::attr(id)", "productBox-id"),
    ),
    "title": (
        css("[data-qa=plp-product-box-name]::attr(title)", "plp-product-box-name[title]"),
        css("[data-qa=plp-product-box-name]::text", "plp-product-box-name"),
        css("[data-qa=product-box-name]::text", "product-box-name"),
        css("[data-qa=product-name]::attr(title)", "product-name"),
        css("img::attr(alt)", "img[alt]"),
    ),
    "price": (
        css("[data-qa=plp-product-box-price] [class*=amount]::text", "plp-product-box-price amount"),
        css("[data-qa=product-box-price] [class*=amount]::text", "product-box-price amount"),
        css("[data-qa=product-price] [class*=amount]::text", "product-price amount"),
        css("[class*=sellingPrice] strong::text", "sellingPrice strong"),
    ),
    "currency": (
        css("[data-qa=plp-product-box-price] [class*=currency]::text", "currency text"),
        css("[data-qa=product-box-price] [class*=currency]::text", "product-box currency text"),
    ),
    "rating": (css("[class*=textCtr]::text", "textCtr"),),
    "review_count": (
        css("[class*=countCtr] span::text", "countCtr"),
        css("[class*=countCtr]::text", "countCtr text"),
    ),
    "image": (
        css("img[class*=productImage]::attr(src)", "img.productImage"),
        css("img[src*='/p/pnsku/']::attr(src), img[src*='/p/pzsku/']::attr(src)", "img[src*=pnsku]"),
        css("[data-qa^=productImagePLP] img::attr(src)", "productImagePLP img"),
    ),
}
BOX_PARSERS = {**RESULT_PARSERS, "source_id": _sku}

PRODUCT_FIELDS: dict[str, tuple[Fallback, ...]] = {
    "price": (
        ld("offers", "price"),
        css("[data-qa=div-price-now] [class*=priceNowText]::text", "div-price-now"),
    ),
    "currency": (ld("offers", "priceCurrency"),),
    "availability": (ld("offers", "availability"),),
    "image": (ld("image", 0), ld("image")),
    "title": (ld("name"), css("h1[class*=title]::text", "h1.title")),
    "rating": (ld("aggregateRating", "ratingValue"),),
    "review_count": (ld("aggregateRating", "reviewCount"),),
    "brand": (ld("brand", "name"), ld("brand"), ld("manufacturer", "name")),
    "model": (ld("model"), ld("model", "name"), ld("mpn")),
    "gtin": (ld("gtin13"), ld("gtin"), ld("gtin12"), ld("gtin14")),
}
PRODUCT_PARSERS = {
    "brand": parse_text,
    "model": parse_text,
    "gtin": parse_gtin,
    "price": parse_price,
    "availability": _stock,
    "rating": parse_rating,
    "review_count": parse_count,
    "image": lambda raw: raw if isinstance(raw, str) else None,
}


class NoonSpider(SearchSpider):
    name = "noon"
    default_base_url = "https://www.noon.com"
    download_slot = {"concurrency": 4, "delay": 0.5, "jitter": 0.5}
    cdn_origins = ("https://f.nooncdn.com",)
    page_types = {
        "search": PageType("search", ("source_id", "title", "price", "currency"), f"{BOX}, {NO_RESULTS}"),
        "product": PageType("product", ("title",), 'script[type="application/ld+json"], h1'),
    }
    block_signatures = (BlockSignature("forbidden", ("errors.edgesuite.net",), max_chars=SMALL_BODY_CHARS),)

    def __init__(self, *args: Any, locale: str = "uae-en", **kwargs: Any) -> None:
        locale = locale.strip("/")
        if not _LOCALE.match(locale):
            raise SpiderArgumentError(f"locale must look like uae-en, got {locale!r}")
        super().__init__(*args, **kwargs)
        self.locale = locale
        self.site_currency = LOCALE_CURRENCY.get(locale.split("-")[0])
        #: The SKUs each listing page of each search showed (a page read again replaces its entry).
        self.page_skus: dict[str, dict[int, frozenset[str]]] = {}

    def search_url(self, args: SearchArgs, page: int) -> str:
        return f"{self.base_url}/{self.locale}/search/?{urlencode({'q': args.q, 'page': page})}"

    def search_start(self, args: SearchArgs) -> Iterator[scrapy.Request]:
        yield self.page_request(
            self.search_url(args, 1), "search", self.parse_search, args, cb_kwargs={"page": 1}
        )

    def parse_search(self, response: Response, page: int) -> Iterator[Any]:
        args = self.search_args(response)
        chains = dict(BOX_FIELDS)
        if self.site_currency:
            chains["currency"] = (*BOX_FIELDS["currency"], value(self.site_currency, "locale"))
        skus: set[str] = set()
        for box in response.css(BOX):
            found = extract(box, "search", chains, BOX_PARSERS)
            found.count_into(self.crawler.stats)
            skus.add(found.get("source_id") or "")
            if found.get("price") is None and not box.css("[data-qa$=product-box-price]"):
                self.crawler.stats.inc_value("looqta/fields/search/no_offer")
                continue  # out of stock: the box shows no price
            yield self.item_or_details(
                self.result_item(found, self.canonical_url(found, response), response),
                self.parse_product,
                args,
            )
        if self.shows_new_products(args, page, skus) and args.allows_page(page + 1):
            yield self.page_request(
                self.search_url(args, page + 1),
                "search",
                self.parse_search,
                args,
                cb_kwargs={"page": page + 1},
            )

    def shows_new_products(self, args: SearchArgs, page: int, skus: set[str]) -> bool:
        """Whether listing page ``page`` is worth a next one. There is no "next" link: the page
        after the last is empty, and a site that repeats its last page instead must not be
        followed forever, so a page with no SKU that the other pages lack ends the listing."""
        pages = self.page_skus.setdefault(args.search_id, {})
        pages[page] = frozenset(skus - {""})
        others = set().union(*(seen for number, seen in pages.items() if number != page))
        if not pages[page] - others:
            self.logger.info("listing page %d shows no new product: the last page", page)
            if args.search_id:
                del self.page_skus[args.search_id]  # a warm crawler's search ends here
            return False
        return True

    def canonical_url(self, found: Any, response: Response) -> str | None:
        """The product's URL without ``?o=`` (which seller's offer the box showed)."""
        sku = found.get("source_id")
        link = response.css(f"a[href*='/{sku}/p/']::attr(href)").get() if sku else None
        return response.urljoin(urlsplit(link).path) if link else None

    def parse_product(self, response: Response, item: ProductItem) -> Iterator[ProductItem]:
        found = extract(response.selector, "product", PRODUCT_FIELDS, PRODUCT_PARSERS)
        found.count_into(self.crawler.stats)
        item = self.merge_details(item, found, response)
        item.availability = found.get("availability")
        yield item
