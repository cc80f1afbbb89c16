"""amazon.ae stand-in: server-rendered search and product pages modelled on the real markup.

Only the product page's document list is filled in by JavaScript (``#productDocuments``).
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from aiohttp import web

from looqta.sandbox.context import site_context
from looqta.sandbox.faults import is_malformed
from looqta.sandbox.markup import MALFORMED_PRICE, amount, count, document

if TYPE_CHECKING:
    from decimal import Decimal

    from looqta.sandbox.catalogue import Product, SearchPage

SITE = "amazon"
PAGE_SIZE = 20
IMAGE_EXT = "jpg"

_DOCUMENTS_SCRIPT = """
<script>
(function () {
  var box = document.getElementById("productDocuments");
  var asin = box.getAttribute("data-asin");
  fetch("/api/dp/" + encodeURIComponent(asin) + "/documents", {headers: {"Accept": "application/json"}})
    .then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.json();
    })
    .then(function (data) {
      data.documents.forEach(function (doc) {
        var link = document.createElement("a");
        link.className = "a-link-normal pdf-link";
        link.setAttribute("href", doc.url);
        link.textContent = doc.title + " (" + doc.type.toUpperCase() + ")";
        box.appendChild(link);
      });
      box.setAttribute("data-loaded", "true");
    })
    .catch(function (error) {
      box.setAttribute("data-loaded", "error");
      box.setAttribute("data-error", String(error));
    });
})();
</script>
"""


def image_url(product: Product, assets: str = "") -> str:
    """The product's image; ``assets``: the origin serving it (the site's CDN), else relative."""
    return f"{assets}/images/{product.source_id}.{IMAGE_EXT}"


def product_url(product: Product) -> str:
    return f"/dp/{product.source_id}"


def search_url(query: str, page: int) -> str:
    return "/s?" + urlencode({"k": query, "page": page})


def _price(value: Decimal, malformed: bool) -> str:
    if malformed:  # garbled on purpose: no number, unclosed spans
        return (
            f'<span class="a-price" data-a-size="xl"><span class="a-offscreen">'
            f'AED&nbsp;{MALFORMED_PRICE}<span aria-hidden="true"><span class="a-price-whole">'
            f'{MALFORMED_PRICE}<span class="a-price-decimal">'
        )
    whole, fraction = amount(value).split(".")
    return (
        f'<span class="a-price" data-a-size="xl"><span class="a-offscreen">AED&nbsp;'
        f'{amount(value)}</span><span aria-hidden="true"><span class="a-price-symbol">AED</span>'
        f'<span class="a-price-whole">{whole}<span class="a-price-decimal">.</span></span>'
        f'<span class="a-price-fraction">{fraction}</span></span></span>'
    )


def _result(product: Product, index: int, malformed: bool, assets: str) -> str:
    asin = product.source_id
    title = escape(product.title)
    rating = ""
    if product.rating is not None:
        n = count(product.review_count)
        rating = (
            f'\n  <div class="a-row a-size-small"><span class="a-icon-alt">{product.rating} out of'
            f' 5 stars</span> <a aria-label="{n} ratings" href="/dp/{asin}#customerReviews">'
            f'<span class="a-size-base s-underline-text">{n}</span></a></div>'
        )
    return (
        f'<div data-component-type="s-search-result" data-asin="{asin}" data-index="{index}" '
        f'class="s-result-item s-asin">\n'
        f'  <div class="s-product-image-container"><img class="s-image" '
        f'src="{image_url(product, assets)}" alt="{title}"></div>\n'
        f'  <h2 class="a-size-mini a-spacing-none a-color-base"><a class="a-link-normal '
        f's-line-clamp-2 s-link-style a-text-normal" href="{product_url(product)}"><span '
        f'class="a-size-medium a-color-base a-text-normal">{title}</span></a></h2>{rating}\n'
        f"  {_price(product.price, malformed)}\n"
        f"</div>"
    )


def _pagination(result: SearchPage) -> str:
    if result.page > 1:
        previous = (
            f'<a href="{escape(search_url(result.query, result.page - 1))}" '
            f'class="s-pagination-item s-pagination-previous s-pagination-button">'
            f"Previous</a>"
        )
    else:
        previous = (
            '<span class="s-pagination-item s-pagination-previous s-pagination-disabled">Previous</span>'
        )
    current = f'<span class="s-pagination-item s-pagination-selected">{result.page}</span>'
    if result.has_next:
        following = (
            f'<a href="{escape(search_url(result.query, result.page + 1))}" '
            f'class="s-pagination-item s-pagination-next s-pagination-button">Next</a>'
        )
    else:
        following = '<span class="s-pagination-item s-pagination-next s-pagination-disabled">Next</span>'
    return f'<span class="s-pagination-strip">{previous} {current} {following}</span>'


def _search_form(query: str = "") -> str:
    return (
        '<form id="nav-search-bar-form" action="/s" method="get" role="search">'
        f'<input type="text" id="twotabsearchtextbox" name="k" value="{escape(query)}">'
        '<input type="submit" id="nav-search-submit-button" value="Go"></form>'
    )


def render_search(result: SearchPage, malformed: bool = False, assets: str = "") -> str:
    query = escape(result.query)
    if not result.products:
        body = (
            f'<div class="s-main-slot s-result-list s-search-results">'
            f'<div class="s-no-results-result">No results for {query}.</div></div>'
        )
    else:
        first = (result.page - 1) * result.page_size + 1
        last = first + len(result.products) - 1
        items = "\n".join(_result(p, i, malformed, assets) for i, p in enumerate(result.products))
        body = (
            f'<div class="s-result-info-bar"><span>{first}-{last} of {result.total} results for'
            f' </span><span class="a-color-state">"{query}"</span></div>\n'
            f'<div class="s-main-slot s-result-list s-search-results">\n{items}\n</div>\n'
            f"{_pagination(result)}"
        )
    return document(f"Amazon.ae : {result.query}", f"{_search_form(result.query)}\n{body}")


def render_product(product: Product, malformed: bool = False, assets: str = "") -> str:
    asin = product.source_id
    title = escape(product.title)
    reviews = ""
    if product.rating is not None:
        reviews = (
            f'<div id="averageCustomerReviews"><span id="acrPopover" title="{product.rating} out'
            f' of 5 stars"><span class="a-size-base a-color-base">{product.rating}</span></span>'
            f' <a href="#customerReviews"><span id="acrCustomerReviewText">'
            f"{count(product.review_count)} ratings</span></a></div>"
        )
    body = (
        f'{_search_form()}\n<div id="dp" class="a-container" data-asin="{asin}">\n'
        f'<div id="imgTagWrapperId"><img id="landingImage" src="{image_url(product, assets)}" '
        f'alt="{title}"></div>\n<div id="centerCol">\n'
        f'<h1 id="title"><span id="productTitle" class="a-size-large product-title-word-break">'
        f"{title}</span></h1>\n"
        f'<a id="bylineInfo" href="/s?k={quote(product.brand)}">Brand: {escape(product.brand)}'
        f"</a>\n{reviews}\n"
        f'<div id="corePrice_feature_div">{_price(product.price, malformed)}</div>\n'
        f'<div id="productDocuments" data-asin="{asin}"></div>\n'
        f'<div id="customerReviews"></div>\n</div>\n</div>\n{_DOCUMENTS_SCRIPT}'
    )
    return document(f"Amazon.ae : {product.title}", body)


def _not_found() -> web.HTTPNotFound:
    body = document("Page Not Found", "<h1>Sorry! We couldn't find that page.</h1>")
    return web.HTTPNotFound(text=body, content_type="text/html")


def _page_number(request: web.Request) -> int:
    try:
        page = int(request.query.get("page", "1"))
    except ValueError:
        raise web.HTTPBadRequest(text="page must be an integer") from None
    if page < 1:
        raise web.HTTPBadRequest(text="page must be >= 1")
    return page


async def _home(request: web.Request) -> web.Response:
    body = f"<h1>Amazon.ae sandbox</h1>\n{_search_form()}"
    return web.Response(text=document("Amazon.ae", body), content_type="text/html")


async def _search(request: web.Request) -> web.Response:
    query = request.query.get("k", "").strip()
    if not query:
        raise web.HTTPBadRequest(text="missing search keywords (k)")
    context = site_context(request)
    result = context.catalogue.search(query, _page_number(request), PAGE_SIZE)
    text = render_search(result, is_malformed(request), context.assets)
    return web.Response(text=text, content_type="text/html")


async def _product_page(request: web.Request) -> web.Response:
    context = site_context(request)
    product = context.catalogue.get(request.match_info["asin"])
    if product is None:
        raise _not_found()
    text = render_product(product, is_malformed(request), context.assets)
    return web.Response(text=text, content_type="text/html")


async def _documents_api(request: web.Request) -> web.Response:
    context = site_context(request)
    product = context.catalogue.get(request.match_info["asin"])
    if product is None:
        return web.json_response({"error": "unknown ASIN"}, status=404)
    url = f"{context.assets}/documents/{product.source_id}.pdf"
    documents = [{"title": "Product datasheet", "url": url, "type": "pdf"}]
    return web.json_response({"documents": documents})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", _home)
    app.router.add_get("/s", _search)
    app.router.add_get("/dp/{asin}", _product_page)
    app.router.add_get("/api/dp/{asin}/documents", _documents_api)
