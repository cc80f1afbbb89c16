"""A JavaScript-built listing for the page-pool and render tests and benchmarks (not a site mirror).

The real sites now render their listings on the server (docs/sites.md). Rendering still has to
be measured on pages whose content only exists once their script has run, so the sandbox keeps
one such page type under ``/__render__/``, plainly outside any real site's URL space: a shell
whose script fetches ``/__render__/api/search`` and builds product boxes, then marks the list
``data-state="loaded"``. Faults (latency, crashes) apply to it like to any other path.
"""

from __future__ import annotations

from html import escape
from typing import Any

from aiohttp import web

from looqta.sandbox.context import page_number, site_context
from looqta.sandbox.markup import document

PREFIX = "/__render__/"
API_PATH = PREFIX + "api/search"
LISTING_PATH = PREFIX + "listing"
LISTING_LOADED = '[data-qa="product-list"][data-state="loaded"]'
PAGE_SIZE = 24

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
    return "/__render__/listing?q=" + encodeURIComponent(query) + "&page=" + n;
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

  fetch("/__render__/api/search?q=" + encodeURIComponent(query) + "&page=" + page,
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


def _query_page(request: web.Request) -> tuple[str, int]:
    query = request.query.get("q", "").strip()
    if not query:
        raise web.HTTPBadRequest(text="missing search query (q)")
    return query, page_number(request)


async def _listing(request: web.Request) -> web.Response:
    query, _ = _query_page(request)
    body = (
        '<div id="app"><div data-qa="product-list" class="productList"></div>'
        '<nav data-qa="pagination"></nav></div>\n'
        f"<noscript>You need to enable JavaScript to run this app.</noscript>\n{_SEARCH_SCRIPT}"
    )
    return web.Response(text=document(f"{escape(query)} | render fixture", body), content_type="text/html")


async def _api(request: web.Request) -> web.Response:
    query, page = _query_page(request)
    context = site_context(request)
    result = context.catalogue.search(query, page, PAGE_SIZE)
    hits: list[dict[str, Any]] = [
        {
            "sku": p.source_id,
            "name": p.title,
            "price": f"{p.price:.2f}",
            "currency": p.currency,
            "rating": None if p.rating is None else str(p.rating),
            "review_count": p.review_count,
            "image_url": f"{context.assets}/images/{p.source_id}.png",
            "url": f"/uae-en/{p.slug}/{p.source_id}/p/",
        }
        for p in result.products
    ]
    return web.json_response({"hits": hits, "page": result.page, "nbPages": result.pages, "query": query})


def add_render_routes(app: web.Application) -> None:
    app.router.add_get(LISTING_PATH, _listing)
    app.router.add_get(API_PATH, _api)
