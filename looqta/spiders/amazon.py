"""amazon.ae product search.

Search result pages are server-rendered HTML (plain HTTP). Product pages load
their documents block with JavaScript, so they are rendered in the browser.
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

RESULT = 'div[data-component-type="s-search-result"]'
NEXT_PAGE = "a.s-pagination-next::attr(href)"
DOCUMENTS_LOADED = '#productDocuments[data-loaded="true"]'


class AmazonSpider(SearchSpider):
    name = "amazon"
    default_base_url = "https://www.amazon.ae"

    def search_url(self, page: int) -> str:
        return f"{self.base_url}/s?{urlencode({'k': self.args.q, 'page': page})}"

    async def start(self) -> AsyncIterator[scrapy.Request]:
        yield self.http_request(self.search_url(1), self.parse_search, cb_kwargs={"page": 1})

    def parse_search(self, response: Response, page: int) -> Iterator[scrapy.Request]:
        for result in response.css(RESULT):
            asin = result.attrib.get("data-asin")
            href = result.css("h2 a::attr(href)").get()
            if asin and href:
                yield self.browser_request(
                    response.urljoin(href),
                    self.parse_product,
                    wait_for=DOCUMENTS_LOADED,
                    cb_kwargs={"asin": asin},
                )
        next_href = response.css(NEXT_PAGE).get()
        if next_href and self.args.allows_page(page + 1):
            yield self.http_request(
                response.urljoin(next_href), self.parse_search, cb_kwargs={"page": page + 1}
            )

    def parse_product(self, response: Response, asin: str) -> Any:
        loader = ProductLoader(response=response)
        loader.add_value("source", self.name)
        loader.add_value("source_id", asin)
        loader.add_css("title", "#productTitle::text")
        loader.add_css("price", "#corePrice_feature_div .a-price .a-offscreen::text")
        loader.add_css("currency", "#corePrice_feature_div .a-price .a-offscreen::text")
        loader.add_css("rating", "#acrPopover::attr(title)")
        loader.add_css("review_count", "#acrCustomerReviewText::text")
        loader.add_value("review_count", 0)
        loader.add_value("url", response.url)
        loader.add_value(
            "image_urls", [response.urljoin(u) for u in response.css("#landingImage::attr(src)").getall()]
        )
        loader.add_value(
            "file_urls",
            [response.urljoin(u) for u in response.css("#productDocuments a.pdf-link::attr(href)").getall()],
        )
        loader.add_value("scraped_at", self.scraped_at())
        loader.add_value("job", self.args.job)
        return loader.load_item()
