"""noon.com stand-in: server-rendered listings and product pages of the real structure (docs/sites.md).

Listings are rendered on the server (a TanStack app since mid-2026): product boxes carry stable ``data-qa``
attributes (``plp-product-box``, ``plp-product-box-name``, ``plp-product-box-price``) and CSS-module
class names whose scheme and hash change with the front-end build (``SiteContext.build``). The
price shows no currency text (the dirham sign is an icon-font glyph), rating counts are
abbreviated, one SKU appears in two boxes (two sellers' offers), there is no "next" link (the
page after the last is empty), and robots.txt disallows search for generic crawlers, as the
real one does. Product pages carry a JSON-LD ``Product`` with ``offers.price`` and
``priceCurrency`` (an out-of-stock product has price 0 and ``OutOfStock``), its brand and, on most,
``model`` (the model number) and ``color``; no GTIN (none seen on the real pages).
"""

from __future__ import annotations

import json
import string
from html import escape
from typing import TYPE_CHECKING

from aiohttp import web

from looqta.sandbox.blocks import akamai_challenge
from looqta.sandbox.context import page_number, site_context
from looqta.sandbox.faults import is_malformed
from looqta.sandbox.markup import MALFORMED_PRICE, abbreviated, amount, document
from looqta.sandbox.sites.noon_titles import noon_title
from looqta.sandbox.standin import StandIn
from looqta.sandbox.variants import build_hash, has_offer, pick, share

if TYPE_CHECKING:
    import random
    from decimal import Decimal

    from looqta.sandbox.catalogue import Product, SearchPage

SITE = "noon"
PAGE_SIZE = 24
IMAGE_EXT = "png"
BASE_PATH = "/uae-en/"
#: Private-use glyph of the icon font that draws the dirham sign.
CURRENCY_GLYPH = "\ue900"
#: The grid position whose product a listing shows a second time (another seller's offer).
REPEATED_POSITION = 5
#: Share of product pages whose JSON-LD has no ``model`` (the seller gave none).
NO_MODEL_SHARE = 0.25


#: The class-name schemes noon's front-end builds have emitted (docs/sites.md, "noon classes"):
#: Next.js/webpack (2024-25), Turbopack (early 2026), Vite (since mid-2026).
CLASS_STYLES = ("webpack", "turbopack", "vite")


def class_style(build: str) -> str:
    """The class-name scheme of ``build`` (``current`` is the Vite scheme of today's site)."""
    return "vite" if build == "current" else pick(CLASS_STYLES, "build", build)


def css(build: str, module: str, name: str) -> str:
    """A CSS-modules class name as ``build`` emits it, e.g. ``_amount_1o2w0_59``."""
    digest = build_hash(build, module)
    style = class_style(build)
    if style == "webpack":
        return f"{module}_{name}__{build_hash(build, f'{module}_{name}')}"
    if style == "turbopack":
        return f"{module}-module-scss-module__{digest}__{name}"
    return f"_{name}_{digest.lower()}_{int(share(build, module, name) * 90) + 1}"


def tile_amount(value: Decimal) -> str:
    """A listing tile's amount: thousands commas, decimals only when there are cents (``8,999``)."""
    text = amount(value)
    return text[:-3] if text.endswith(".00") else text


def image_url(product: Product, assets: str = "") -> str:
    """The product's image; ``assets``: the origin serving it (the site's CDN), else relative."""
    return f"{assets}/images/{product.source_id}.{IMAGE_EXT}"


def product_path(product: Product) -> str:
    """The canonical product URL path, ``/uae-en/<slug>/<SKU>/p/``."""
    return f"{BASE_PATH}{product.slug}/{product.source_id}/p/"


def repeated_product(result: SearchPage) -> Product | None:
    """The product a listing shows twice (two sellers' offers of one SKU), if any."""
    if len(result.products) <= REPEATED_POSITION:
        return None
    return result.products[REPEATED_POSITION]


def shows_model(product: Product) -> bool:
    """Whether the product's JSON-LD gives its model number (about 75 % do)."""
    return bool(product.model_code) and share(SITE, product.source_id, "model") >= NO_MODEL_SHARE


def _price(build: str, product: Product, malformed: bool) -> str:
    if not has_offer(SITE, product.source_id):
        return ""  # out of stock: the tile shows no price
    shown = MALFORMED_PRICE if malformed else tile_amount(product.price)
    was = tile_amount(product.price * 115 / 100)
    return (
        f'<div class="{css(build, "Price", "container")} {css(build, "Price", "pBox")}" '
        f'data-qa="plp-product-box-price"><div class="{css(build, "Price", "sellingPrice")}">'
        f'<span class="{css(build, "Price", "currency")}">{CURRENCY_GLYPH}</span>'
        f'<strong class="{css(build, "Price", "amount")}">{shown}</strong></div>'
        f'<div class="{css(build, "Price", "preReductionRow")}"><span '
        f'class="{css(build, "Price", "oldPrice")} '
        f'strikeThrough">{was}</span><span class="{css(build, "Price", "discount")}">13%</span></div></div>'
    )


def _rating(build: str, product: Product) -> str:
    if product.rating is None:
        return ""
    return (
        f'<div class="{css(build, "RatingPreviewStar", "container")}">'
        f'<div class="{css(build, "RatingPreviewStar", "textCtr")}">{product.rating}</div>'
        "<span "
        f'class="{css(build, "RatingPreviewStar", "countCtr")}"><span>{abbreviated(product.review_count)}'
        "</span></span></div>"
    )


def _box(build: str, product: Product, offer: int, malformed: bool, assets: str) -> str:
    href = f"{product_path(product)}?o={product.source_id.lower()}-{offer}"
    title = escape(product.title)
    return (
        f'<div class="{css(build, "PBoxLinkHandler", "linkWrapper")}" data-qa="plp-product-box">'
        f'<a class="{css(build, "PBoxLinkHandler", "productBoxLink")}" href="{escape(href)}">'
        f'<div class="{css(build, "ProductImageCarousel", "wrapper")}" data-qa="productImagePLP_{title}">'
        f'<img src="{image_url(product, assets)}" alt="{title}" '
        f'class="{css(build, "ProductImage", "productImage")}">'
        f'</div><div class="{css(build, "ProductDetailsSection", "wrapper")}">'
        f'<h2 class="{css(build, "ProductDetailsSection", "title")}" data-qa="plp-product-box-name" '
        f'title="{title}">{title}</h2>{_rating(build, product)}{_price(build, product, malformed)}'
        f'<div data-qa="product-noon-express"><img alt="noon express" src="/svg/express.svg"></div>'
        f"</div></a></div>"
    )


def render_search(result: SearchPage, build: str, malformed: bool = False, assets: str = "") -> str:
    if not result.products:
        grid = (
            f'<div class="{css(build, "NoResults", "container")}" data-qa="plp-no-results">'
            f"<h2>Sorry, we couldn&#x27;t find any results for &quot;{escape(result.query)}&quot;</h2></div>"
        )
    else:
        boxes = [_box(build, product, 1, malformed, assets) for product in result.products]
        repeated = repeated_product(result)
        if repeated is not None:  # the same SKU again, another seller's offer
            boxes.insert(len(boxes) // 2, _box(build, repeated, 2, malformed, assets))
        grid = (
            f'<div class="{css(build, "PlpHeader", "resultCount")}">{result.total} results for '
            f"&quot;{escape(result.query)}&quot;</div>"
            f'<div class="{css(build, "ProductListDesktop", "layoutWrapper")}">{"".join(boxes)}</div>'
        )
    body = f'<div id="root"><main class="{css(build, "PlpLayout", "main")}">{grid}</main></div>'
    head = f'<link rel="stylesheet" href="/assets/index-{build_hash(build, "css")}.css">'
    return document(f"{result.query} | noon UAE", body, head=head)


def json_ld(product: Product, assets: str = "") -> dict[str, object]:
    """The JSON-LD ``Product`` of a product page (one offer object; out of stock: price 0)."""
    in_stock = has_offer(SITE, product.source_id)
    offer: dict[str, object] = {
        "@type": "Offer",
        "url": f"https://www.noon.com{product_path(product)}",
        "price": float(product.price) if in_stock else 0,
        "priceCurrency": product.currency,
        "itemCondition": "https://schema.org/NewCondition",
        "availability": f"https://schema.org/{'InStock' if in_stock else 'OutOfStock'}",
        "priceSpecification": {
            "@type": "UnitPriceSpecification",
            "priceType": "https://schema.org/ListPrice",
            "price": float((product.price * 115 / 100).quantize(product.price)),
        },
        "seller": {"@type": "Organization", "name": "noon"},
    }
    data: dict[str, object] = {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": product.title,
        "sku": product.source_id,
        "url": f"https://www.noon.com{product_path(product)}",
        "brand": {"@type": "Brand", "name": product.brand},
        "manufacturer": {"@type": "Organization", "name": product.brand},
        "image": [f"{image_url(product, assets)}?width=1200"],
        "offers": offer,
    }
    if shows_model(product):
        data["model"] = product.model_code
    if product.spec is not None:
        data["color"] = product.spec.colour
    if product.rating is not None:
        data["aggregateRating"] = {
            "@type": "AggregateRating",
            "ratingValue": float(product.rating),
            "reviewCount": product.review_count,
            "bestRating": 5,
        }
    return data


def _breadcrumbs(product: Product) -> dict[str, object]:
    return {
        "@context": "https://schema.org",
        "@type": "BreadcrumbList",
        "itemListElement": [
            {"@type": "ListItem", "position": 1, "name": "Home", "item": "https://www.noon.com/uae-en/"},
            {"@type": "ListItem", "position": 2, "name": product.category.title()},
        ],
    }


def _ld_script(data: dict[str, object]) -> str:
    text = json.dumps(data).replace("</", "<\\/")
    return f'<script type="application/ld+json">{text}</script>'


def render_product(product: Product, build: str, malformed: bool = False, assets: str = "") -> str:
    data = json_ld(product, assets)
    if malformed:
        data["offers"] = {**data["offers"], "price": MALFORMED_PRICE}  # type: ignore[dict-item]
    name = escape(product.title)
    price = ""
    if has_offer(SITE, product.source_id):
        shown = MALFORMED_PRICE if malformed else amount(product.price)
        price = (
            f'<div class="{css(build, "PriceOffer", "priceNowCtr")}" data-qa="div-price-now">'
            f'<span class="{css(build, "PriceOffer", "currency")}">{CURRENCY_GLYPH}</span>'
            f'<span class="{css(build, "PriceOffer", "priceNowText")}">{shown}</span></div>'
        )
    body = (
        f'<div id="root"><div class="{css(build, "CoreDetails", "container")}">\n'
        f'<div class="{css(build, "GalleryV2", "imageWrapper")}"><img '
        f'src="{image_url(product, assets)}" alt="{name}"></div>\n'
        f'<div class="{css(build, "ProductTitle", "brand")}">{escape(product.brand)}</div>\n'
        f'<h1 class="{css(build, "ProductTitle", "title")}">{name}</h1>\n{price}\n'
        f"</div></div>"
    )
    head = _ld_script(data) + _ld_script(_breadcrumbs(product))
    return document(f"{product.title} | noon UAE", body, head=head)


async def _root(request: web.Request) -> web.Response:
    raise web.HTTPFound(BASE_PATH)


async def _home(request: web.Request) -> web.Response:
    body = (
        '<h1>noon sandbox</h1><form action="/uae-en/search/" method="get">'
        '<input type="search" name="q"><button type="submit">Search</button></form>'
    )
    return web.Response(text=document("noon UAE", body), content_type="text/html")


async def _search(request: web.Request) -> web.Response:
    query = request.query.get("q", "").strip()
    if not query:
        raise web.HTTPFound(BASE_PATH)
    context = site_context(request)
    result = context.catalogue.search(query, page_number(request), PAGE_SIZE)
    text = render_search(result, context.build, is_malformed(request), context.assets)
    return web.Response(text=text, content_type="text/html")


async def _product_page(request: web.Request) -> web.Response:
    context = site_context(request)
    product = context.catalogue.get(request.match_info["sku"])
    if product is None:
        body = document("Page not found | noon", "<h1>Sorry, this page is not available</h1>")
        raise web.HTTPNotFound(text=body, content_type="text/html")
    text = render_product(product, context.build, is_malformed(request), context.assets)
    return web.Response(text=text, content_type="text/html")


#: The rules noon's robots.txt gives every other crawler (as fetched 2026-10-07, docs/sites.md).
ROBOTS_TXT = """User-agent: *
Disallow: /_svc/
Disallow: /_vs/
Disallow: /_serverFn/
Disallow: /*/search$
Disallow: /*/search?
Disallow: /*/search/
Disallow: /*/cart/
Disallow: /*/checkout/
Disallow: /*/wishlist/
Allow: /

User-agent: BadBot
Disallow: /
"""


async def _robots(request: web.Request) -> web.Response:
    return web.Response(text=ROBOTS_TXT, content_type="text/plain")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", _root)
    app.router.add_get("/robots.txt", _robots)
    app.router.add_get(BASE_PATH, _home)
    app.router.add_get(BASE_PATH + "search", _search)
    app.router.add_get(BASE_PATH + "search/", _search)
    app.router.add_get(BASE_PATH + "{slug}/{sku}/p/", _product_page)


def new_id(rng: random.Random) -> str:
    """A SKU: ``N``, eight digits and an upper-case letter."""
    return "N" + "".join(rng.choices(string.digits, k=8)) + rng.choice(string.ascii_uppercase)


def _server_error() -> str:
    body = (
        '<div id="root"><div class="errorPage"><h1>Something went wrong</h1>'
        "<p>We are working on fixing the problem. Please try again.</p></div></div>"
    )
    return document("noon", body)


# noon has no captcha form of its own: its edge's "Access Denied" answers for those kinds.
STAND_IN = StandIn(
    name=SITE,
    add_routes=add_routes,
    new_id=new_id,
    challenge=akamai_challenge,
    title=noon_title,
    block_pages={"server_error": _server_error},
    # Its robots.txt disallows search for crawlers it does not name. Sandbox crawls read them as a
    # site that permitted looqta would let it; the real site has no such permission configured.
    robots_permitted=(BASE_PATH + "search",),
    order=1,
)
