"""noon.com product search.

The search listing is a JavaScript app (the product grid is built in the
browser from an API call), so listing pages are rendered. Product pages are
server-rendered and fetched over plain HTTP.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from looqta.loaders import ProductLoader
from looqta.spiders.base import SearchSpider

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

    import scrapy
    from scrapy.http import Response

LISTING_LOADED = '[data-qa="product-list"][data-state="loaded"]'
PRODUCT_BOX = 'div[data-qa="product-box"]'
NEXT_PAGE = 'nav[data-qa="pagination"] a[rel="next"]::attr(href)'


class NoonSpider(SearchSpider):
    name = "noon"
    default_base_url = "https://www.noon.com"

    def __init__(self, *args: Any, locale: str = "uae-en", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.locale = locale.strip("/")

    def search_url(self, page: int) -> str:
        return f"{self.base_url}/{self.locale}/search?{urlencode({'q': self.args.q, 'page': page})}"

    async def start(self) -> AsyncIterator[scrapy.Request]:
        yield self.listing_request(self.search_url(1), page=1)

    def listing_request(self, url: str, page: int) -> scrapy.Request:
        return self.browser_request(url, self.parse_search, wait_for=LISTING_LOADED, cb_kwargs={"page": page})

    def parse_search(self, response: Response, page: int) -> Iterator[scrapy.Request]:
        for box in response.css(PRODUCT_BOX):
            sku = box.attrib.get("data-sku")
            href = box.css("a::attr(href)").get()
            if sku and href:
                yield self.http_request(response.urljoin(href), self.parse_product, cb_kwargs={"sku": sku})
        next_href = response.css(NEXT_PAGE).get()
        if next_href and self.args.allows_page(page + 1):
            yield self.listing_request(response.urljoin(next_href), page=page + 1)

    def parse_product(self, response: Response, sku: str) -> Any:
        loader = ProductLoader(response=response)
        loader.add_value("source", self.name)
        loader.add_value("source_id", sku)
        loader.add_css("title", 'h1[data-qa="pdp-name"]::text')
        loader.add_css("price", '[data-qa="div-price-now"]::text')
        loader.add_css("currency", '[data-qa="div-price-now"]::text')
        loader.add_css("rating", '[data-qa="pdp-rating"]::attr(data-rating)')
        loader.add_css("review_count", '[data-qa="pdp-rating"]::attr(data-count)')
        loader.add_value("review_count", 0)
        loader.add_value("url", response.url)
        loader.add_value(
            "image_urls",
            [response.urljoin(u) for u in response.css('img[data-qa="pdp-image"]::attr(src)').getall()],
        )
        loader.add_value(
            "file_urls",
            [response.urljoin(u) for u in response.css('a[data-qa="pdp-datasheet"]::attr(href)').getall()],
        )
        loader.add_value("scraped_at", self.scraped_at())
        loader.add_value("job", self.args.job)
        return loader.load_item()
