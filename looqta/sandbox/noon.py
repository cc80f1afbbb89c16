"""noon.com stand-in: the search page is a client-side app; product pages are server-rendered.

``/uae-en/search`` returns a shell with no product markup. Its inline script (plain JavaScript)
calls the JSON search API and renders the product boxes, then sets ``data-state="loaded"``.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from aiohttp import web

from looqta.sandbox.context import site_context
from looqta.sandbox.faults import is_malformed
from looqta.sandbox.markup import MALFORMED_PRICE, amount, count, document

if TYPE_CHECKING:
    from looqta.sandbox.catalogue import Product

SITE = "noon"
PAGE_SIZE = 24
IMAGE_EXT = "png"
BASE_PATH = "/uae-en/"
SEARCH_API_PATH = "/_svc/catalog/api/v3/search"

_SEARCH_SCRIPT = """
<script>
(function () {
  var list = document.querySelector('[data-qa="product-list"]');
  var nav = document.querySelector('[data-qa="pagination"]');
  var params = new URLSearchParams(window.location.search);
  var query = params.get("q") || "";
  var page = parseInt(params.get("page") || "1", 10);

  function esc(value) {
    return String(value).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  }
  function grouped(digits) { return digits.replace(/\\B(?=(\\d{3})+(?!\\d))/g, ","); }
  function formatAmount(price) {
    var parts = String(price).split(".");
    return grouped(parts[0]) + (parts.length > 1 ? "." + parts[1] : "");
  }
  function pageUrl(n) {
    return "/uae-en/search?q=" + encodeURIComponent(query) + "&page=" + n;
  }
  function box(hit) {
    var name = esc(hit.name);
    var rating = "";
    if (hit.rating !== null) {
      rating = '<div class="ratingRow"><span class="ratingValue">' + esc(hit.rating) +
        '</span> <span class="ratingCount">(' + grouped(String(hit.review_count)) +
        ')</span></div>';
    }
    return '<div class="productContainer" data-qa="product-box" data-sku="' + esc(hit.sku) +
      '"><a href="' + esc(hit.url) + '"><img class="productImage" src="' + esc(hit.image_url) +
      '" alt="' + name + '"><div data-qa="product-name" title="' + name + '">' + name +
      '</div><div class="priceRow"><span class="currency">' + esc(hit.currency) +
      '</span> <strong class="amount">' + esc(formatAmount(hit.price)) + '</strong></div>' +
      rating + '</a></div>';
  }

  fetch("/_svc/catalog/api/v3/search?q=" + encodeURIComponent(query) + "&page=" + page,
        {headers: {"Accept": "application/json"}})
    .then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.json();
    })
    .then(function (data) {
      if (data.hits.length === 0) {
        list.innerHTML = '<div data-qa="no-results">No results for "' + esc(query) + '"</div>';
      } else {
        list.innerHTML = data.hits.map(box).join("");
      }
      var links = [];
      if (data.page > 1 && data.page <= data.nbPages) {
        links.push('<a rel="prev" href="' + esc(pageUrl(data.page - 1)) + '">Previous</a>');
      }
      if (data.page < data.nbPages) {
        links.push('<a rel="next" href="' + esc(pageUrl(data.page + 1)) + '">Next</a>');
      }
      nav.innerHTML = links.join(" ");
      list.setAttribute("data-state", "loaded");
    })
    .catch(function (error) {
      list.setAttribute("data-state", "error");
      list.setAttribute("data-error", String(error));
    });
})();
</script>
"""


def image_url(product: Product, assets: str = "") -> str:
    """The product's image; ``assets``: the origin serving it (the site's CDN), else relative."""
    return f"{assets}/images/{product.source_id}.{IMAGE_EXT}"


def product_url(product: Product) -> str:
    return f"{BASE_PATH}{product.slug}/{product.source_id}/p/"


def hit(product: Product, malformed: bool = False, assets: str = "") -> dict[str, Any]:
    return {
        "sku": product.source_id,
        "name": product.title,
        "brand": product.brand,
        "price": MALFORMED_PRICE if malformed else f"{product.price:.2f}",
        "currency": product.currency,
        "rating": None if product.rating is None else str(product.rating),
        "review_count": product.review_count,
        "image_url": image_url(product, assets),
        "url": product_url(product),
    }


def render_search_shell(query: str) -> str:
    body = (
        '<div id="__next"><div data-qa="product-list" class="productList"></div>'
        '<nav data-qa="pagination"></nav></div>\n'
        "<noscript>You need to enable JavaScript to run this app.</noscript>\n"
        f"{_SEARCH_SCRIPT}"
    )
    return document(f"{query} | noon UAE", body)


def render_product(product: Product, malformed: bool = False, assets: str = "") -> str:
    name = escape(product.title)
    if malformed:  # garbled on purpose: no number, unclosed tags
        price = f'<div data-qa="div-price-now">AED {MALFORMED_PRICE}<span class="priceNow">'
    else:
        price = f'<div data-qa="div-price-now">{product.currency} {amount(product.price)}</div>'
    rating = ""
    if product.rating is not None:
        rating = (
            f'<div data-qa="pdp-rating" data-rating="{product.rating}" '
            f'data-count="{product.review_count}"><span>{product.rating}</span> '
            f"<span>({count(product.review_count)} ratings)</span></div>"
        )
    body = (
        f'<div id="__next"><div class="pdpContainer" data-sku="{product.source_id}">\n'
        f'<img data-qa="pdp-image" src="{image_url(product, assets)}" alt="{name}">\n'
        f'<div data-qa="pdp-brand">{escape(product.brand)}</div>\n'
        f'<h1 data-qa="pdp-name">{name}</h1>\n{price}\n{rating}\n'
        f'<a data-qa="pdp-datasheet" href="{assets}/documents/{product.source_id}.pdf">Datasheet</a>\n'
        f"</div></div>"
    )
    return document(f"{product.title} | noon UAE", body)


def _page_number(request: web.Request) -> int:
    try:
        page = int(request.query.get("page", "1"))
    except ValueError:
        raise web.HTTPBadRequest(text="page must be an integer") from None
    if page < 1:
        raise web.HTTPBadRequest(text="page must be >= 1")
    return page


def _query(request: web.Request) -> str:
    query = request.query.get("q", "").strip()
    if not query:
        raise web.HTTPBadRequest(text="missing search query (q)")
    return query


async def _root(request: web.Request) -> web.Response:
    raise web.HTTPFound(BASE_PATH)


async def _home(request: web.Request) -> web.Response:
    body = (
        '<h1>noon sandbox</h1><form action="/uae-en/search" method="get">'
        '<input type="search" name="q"><button type="submit">Search</button></form>'
    )
    return web.Response(text=document("noon UAE", body), content_type="text/html")


async def _search_shell(request: web.Request) -> web.Response:
    query = _query(request)
    _page_number(request)
    return web.Response(text=render_search_shell(query), content_type="text/html")


async def _search_api(request: web.Request) -> web.Response:
    query, page = _query(request), _page_number(request)
    context = site_context(request)
    result = context.catalogue.search(query, page, PAGE_SIZE)
    malformed = is_malformed(request)
    return web.json_response(
        {
            "hits": [hit(product, malformed, context.assets) for product in result.products],
            "page": result.page,
            "nbPages": result.pages,
            "nbHits": result.total,
            "hitsPerPage": result.page_size,
            "query": result.query,
        }
    )


async def _product_page(request: web.Request) -> web.Response:
    context = site_context(request)
    product = context.catalogue.get(request.match_info["sku"])
    if product is None:
        body = document("Page not found | noon", "<h1>Sorry, this page is not available</h1>")
        raise web.HTTPNotFound(text=body, content_type="text/html")
    text = render_product(product, is_malformed(request), context.assets)
    return web.Response(text=text, content_type="text/html")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", _root)
    app.router.add_get(BASE_PATH, _home)
    app.router.add_get(BASE_PATH + "search", _search_shell)
    app.router.add_get(SEARCH_API_PATH, _search_api)
    app.router.add_get(BASE_PATH + "{slug}/{sku}/p/", _product_page)
