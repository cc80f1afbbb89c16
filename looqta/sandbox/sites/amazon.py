"""amazon.ae stand-in: server-rendered search and product pages of the real structure (docs/sites.md).

Search result cards mix the layouts the real site serves within one page: the title link
inside the heading (``h2 > a``, before 2024) or around it (``a > h2[aria-label]``, current),
sponsored cards whose links go through ``/sspa/click?...&url=...``, cards without an offer, the
price text in three spacings, and review counts abbreviated (``(1.2K)``) with the exact number
in an ``aria-label``. Product pages carry one of the current price blocks, availability, the
full-size image and a "Product guides and documents" list. Nothing here needs JavaScript.
"""

from __future__ import annotations

import secrets
import string
from html import escape
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from aiohttp import web

from looqta.sandbox.blocks import aws_waf_challenge
from looqta.sandbox.context import page_number, site_context
from looqta.sandbox.faults import is_malformed
from looqta.sandbox.markup import MALFORMED_PRICE, abbreviated, amount, count, document
from looqta.sandbox.sites.amazon_product import (
    offscreen_price,
    render_product,
    search_form,
    whole_fraction,
)
from looqta.sandbox.sites.amazon_titles import amazon_title
from looqta.sandbox.standin import StandIn
from looqta.sandbox.variants import has_offer, pick

if TYPE_CHECKING:
    import random

    from looqta.sandbox.catalogue import Product, SearchPage

SITE = "amazon"
PAGE_SIZE = 20
IMAGE_EXT = "jpg"
#: Search result layouts: the link inside the heading (before 2024) or around it (current).
LAYOUTS = ("h2>a", "a>h2")
#: How the price's screen-reader text is spaced: a space, none, a no-break space.
PRICE_SEPARATORS = (" ", "", "\xa0")
#: The star icon's size class on result cards (``-small`` before 2026, ``-mini`` now).
STAR_ICONS = ("a-icon-star-small", "a-icon-star-mini")
#: Where sponsored cards go on a result page (0-based slots), and how many.
SPONSORED_SLOTS = (0, 9)
_ASIN_ALPHABET = string.ascii_uppercase + string.digits


def layout(product: Product) -> str:
    return pick(LAYOUTS, SITE, product.source_id, "layout")


def price_text(product: Product) -> str:
    """The price as the card's ``.a-offscreen`` shows it: ``AED 1,299.00`` and its variants."""
    separator = pick(PRICE_SEPARATORS, SITE, product.source_id, "price-sep")
    return f"AED{separator}{amount(product.price)}"


def sponsored_products(matches: list[Product], page: int) -> list[Product]:
    """The products advertised on result page ``page`` of a query that matches ``matches``.

    Ads are products of the same query, so most also appear organically, on this page or another.
    """
    if len(matches) < 2:
        return []
    return [matches[(page * 7 + slot * 13) % len(matches)] for slot in range(len(SPONSORED_SLOTS))]


def image_url(product: Product, assets: str = "") -> str:
    """The product's image; ``assets``: the origin serving it (the site's CDN), else relative."""
    return f"{assets}/images/{product.source_id}.{IMAGE_EXT}"


def product_path(product: Product) -> str:
    """The canonical product URL path, ``/dp/<ASIN>``."""
    return f"/dp/{product.source_id}"


def _card_href(product: Product, position: int, sponsored: bool) -> str:
    path = f"/{product.slug[:60]}/dp/{product.source_id}/ref=sr_1_{position + 1}"
    if not sponsored:
        return f"{path}?keywords=&qid=1733200000&sr=8-{position + 1}"
    target = f"{path}_sspa?psc=1&sp_csd=d2lkZ2V0TmFtZT1zcF9hdGY"
    return "/sspa/click?" + urlencode(
        {"ie": "UTF8", "spc": "MTo0NTY3ODkwMTIzNDU2Nzg5OjE3MzMyMDAwMDA6c3BfYXRmOjMwMDA", "url": target}
    )


def search_url(query: str, page: int) -> str:
    return "/s?" + urlencode({"k": query, "page": page})


def _card_price(product: Product, href: str, malformed: bool) -> str:
    if not has_offer(SITE, product.source_id):
        return (
            '<div data-cy="secondary-offer-recipe" class="a-section a-spacing-none a-spacing-top-mini">'
            '<div class="a-row a-size-base a-color-secondary"><span>No featured offers available</span>'
            "</div></div>"
        )
    if malformed:  # garbled on purpose: no number, unclosed spans
        price = (
            f'<span class="a-price" data-a-size="xl"><span class="a-offscreen">AED&nbsp;{MALFORMED_PRICE}'
            f'<span aria-hidden="true"><span class="a-price-whole">{MALFORMED_PRICE}'
        )
    else:
        price = offscreen_price(price_text(product), whole_fraction(product.price))
        if pick((True, False), SITE, product.source_id, "list-price"):
            was = f"AED{amount(product.price * 112 / 100)}"
            price += (
                ' <span class="a-size-base a-color-secondary">List: '
                '</span><span class="a-price a-text-price" '
                f'data-a-size="b" data-a-strike="true"><span class="a-offscreen">{was}</span>'
                f'<span aria-hidden="true">{was}</span></span>'
            )
    return (
        f'<div data-cy="price-recipe" class="a-section a-spacing-none a-spacing-top-micro">'
        f'<div class="a-row a-size-base a-color-base"><a class="a-link-normal s-no-hover s-underline-text '
        f's-underline-link-text s-link-style a-text-normal" href="{escape(href)}">{price}</a></div></div>'
    )


def _card_title(product: Product, href: str, sponsored: bool) -> str:
    title = escape(product.title)
    label = ""
    if pick((True, False, False, False), SITE, product.source_id, "badge"):
        # A second, hidden heading that is not the title (a sustainability badge).
        label += (
            '<div class="a-section a-spacing-none s-hidden-sibling"><h2 class="a-size-mini aok-hidden">'
            "<span>ClimatePartner certified</span></h2></div>"
        )
    if sponsored:
        label += (
            '<div class="a-row a-spacing-micro"><span class="a-declarative"><a class="puis-label-popover" '
            'role="button" href="javascript:void(0)"><span class="puis-label-popover-default">'
            '<span class="a-color-secondary puis-sponsored-label-text">Sponsored</span></span></a>'
            "</span></div>"
        )
    if layout(product) == "h2>a":
        heading = (
            f'<h2 class="a-size-mini a-spacing-none a-color-base s-line-clamp-4"><a class="a-link-normal '
            f's-underline-text s-underline-link-text s-link-style a-text-normal" href="{escape(href)}">'
            f'<span class="a-size-base-plus a-color-base a-text-normal">{title}</span></a></h2>'
        )
    else:
        aria = f"Sponsored Ad - {title}" if sponsored else title
        heading = (
            f'<a class="a-link-normal s-line-clamp-4 s-link-style a-text-normal" href="{escape(href)}">'
            f'<h2 aria-label="{aria}" class="a-size-base-plus a-spacing-none a-color-base a-text-normal">'
            f"<span>{title}</span></h2></a>"
        )
    return (
        '<div data-cy="title-recipe" class="a-section a-spacing-none s-title-instructions-style">'
        f"{label}{heading}</div>"
    )


def _card_reviews(product: Product, href: str) -> str:
    if product.rating is None:
        return ""
    n = product.review_count
    shown = f"({abbreviated(n)})" if pick((True, False), SITE, product.source_id, "abbrev") else count(n)
    star = pick(STAR_ICONS, SITE, product.source_id, "star")
    return (
        f'<div data-cy="reviews-block" class="a-section a-spacing-none a-spacing-top-micro">'
        '<div class="a-row a-size-small"><span class="a-declarative"><a '
        f'aria-label="{product.rating} out of 5 '
        f'stars, rating details" href="javascript:void(0)" role="button" class="a-popover-trigger">'
        f'<i data-cy="reviews-ratings-slot" aria-hidden="true" class="a-icon {star}">'
        f'<span class="a-icon-alt">{product.rating} out of 5 stars</span></i></a></span>'
        f'<a aria-label="{count(n)} ratings" class="a-link-normal s-underline-text s-link-style" '
        f'href="{escape(href)}#customerReviews"><span aria-hidden="true" class="a-size-small '
        f'puis-normal-weight-text s-underline-text">{shown}</span></a></div></div>'
    )


def _card(product: Product, position: int, sponsored: bool, malformed: bool, assets: str) -> str:
    asin = product.source_id
    href = _card_href(product, position, sponsored)
    holder = " AdHolder" if sponsored else ""
    return (
        f'<div role="listitem" data-asin="{asin}" data-index="{position + 2}" '
        f'data-uuid="{asin.lower()}-{position}" data-component-type="s-search-result" '
        f'class="sg-col-4-of-24 s-result-item s-asin sg-col{holder}">'
        f'<div class="puis-card-container s-card-container" data-cy="asin-faceout-container">'
        f'<span data-component-type="s-product-image"><a class="a-link-normal s-no-outline" '
        f'href="{escape(href)}"><div class="a-section aok-relative s-image-square-aspect">'
        f'<img class="s-image" src="{image_url(product, assets)}" '
        f'srcset="{image_url(product, assets)} 1x" alt="{escape(product.title)}"></div></a></span>'
        f"{_card_title(product, href, sponsored)}{_card_reviews(product, href)}"
        f"{_card_price(product, href, malformed)}</div></div>"
    )


def _pagination(result: SearchPage) -> str:
    if result.page > 1:
        previous = (
            f'<a href="{escape(search_url(result.query, result.page - 1))}" aria-label="Go to previous page, '
            f'page {result.page - 1}" class="s-pagination-item s-pagination-previous s-pagination-button">'
            f"Previous</a>"
        )
    else:
        previous = (
            '<span class="s-pagination-item s-pagination-previous s-pagination-disabled">Previous</span>'
        )
    current = (
        '<span class="s-pagination-item s-pagination-selected" '
        f'aria-label="Current page, page {result.page}">{result.page}</span>'
    )
    if result.has_next:
        following = (
            f'<a href="{escape(search_url(result.query, result.page + 1))}" aria-label="Go to next page, '
            f'page {result.page + 1}" class="s-pagination-item s-pagination-next s-pagination-button '
            f's-pagination-separator">Next</a>'
        )
    else:
        following = '<span class="s-pagination-item s-pagination-next s-pagination-disabled">Next</span>'
    return (
        f'<div role="navigation" class="a-section a-text-center s-pagination-container">'
        f'<span class="s-pagination-strip">{previous} {current} {following}</span></div>'
    )


def result_cards(result: SearchPage, matches: list[Product]) -> list[tuple[Product, bool]]:
    """The cards of a result page in order: ``(product, sponsored)``."""
    cards: list[tuple[Product, bool]] = [(product, False) for product in result.products]
    if result.products:
        for slot, product in zip(SPONSORED_SLOTS, sponsored_products(matches, result.page), strict=False):
            cards.insert(min(slot, len(cards)), (product, True))
    return cards


def render_search(
    result: SearchPage, matches: list[Product], malformed: bool = False, assets: str = ""
) -> str:
    query = escape(result.query)
    if not result.products:
        body = (
            '<div class="s-main-slot s-result-list s-search-results sg-row">'
            '<div data-component-type="s-messaging-widget-results-header" class="s-no-results-result">'
            f'<span>No results for </span><span class="a-color-base a-text-bold">{query}</span></div></div>'
        )
    else:
        first = (result.page - 1) * result.page_size + 1
        last = first + len(result.products) - 1
        cards = "\n".join(
            _card(product, i, sponsored, malformed, assets)
            for i, (product, sponsored) in enumerate(result_cards(result, matches))
        )
        body = (
            f'<div class="s-result-info-bar"><span>{first}-{last} of over {result.total} results for'
            f' </span><span class="a-color-state a-text-bold">"{query}"</span></div>\n'
            f'<div class="s-main-slot s-result-list s-search-results sg-row">\n{cards}\n</div>\n'
            f"{_pagination(result)}"
        )
    return document(f"Amazon.ae : {result.query}", f"{search_form(result.query)}\n{body}")


def _not_found() -> web.HTTPNotFound:
    body = document("Page Not Found", "<h1>Sorry! We couldn't find that page.</h1>")
    return web.HTTPNotFound(text=body, content_type="text/html")


async def _home(request: web.Request) -> web.Response:
    body = f"<h1>Amazon.ae sandbox</h1>\n{search_form()}"
    return web.Response(text=document("Amazon.ae", body), content_type="text/html")


async def _search(request: web.Request) -> web.Response:
    query = (request.query.get("k") or request.query.get("field-keywords") or "").strip()
    if not query:
        raise web.HTTPFound("/")
    context = site_context(request)
    result = context.catalogue.search(query, page_number(request), PAGE_SIZE)
    matches = context.catalogue.search_all(query) if result.products else []
    text = render_search(result, matches, is_malformed(request), context.assets)
    return web.Response(text=text, content_type="text/html")


async def _sponsored_click(request: web.Request) -> web.Response:
    target = request.query.get("url", "")
    if not target.startswith("/") or target.startswith("//"):
        raise web.HTTPBadRequest(text="url must be a path on this site")
    raise web.HTTPFound(target)


async def _product_page(request: web.Request) -> web.Response:
    context = site_context(request)
    product = context.catalogue.get(request.match_info["asin"])
    if product is None:
        raise _not_found()
    text = render_product(product, is_malformed(request), context.assets)
    return web.Response(text=text, content_type="text/html")


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", _home)
    app.router.add_get("/s", _search)
    app.router.add_get("/sspa/click", _sponsored_click)
    app.router.add_get("/dp/{asin}", _product_page)
    app.router.add_get("/dp/{asin}/{ref}", _product_page)
    app.router.add_get("/{slug}/dp/{asin}", _product_page)
    app.router.add_get("/{slug}/dp/{asin}/{ref}", _product_page)


def new_id(rng: random.Random) -> str:
    """An ASIN: ``B0`` and eight upper-case letters or digits."""
    return "B0" + "".join(rng.choices(_ASIN_ALPHABET, k=8))


def _captcha() -> str:
    body = (
        '<div class="a-container a-padding-double-large"><div class="a-row a-spacing-double-large">'
        '<div class="a-box a-alert a-alert-info a-spacing-base"><div class="a-box-inner">'
        "<h4>Enter the characters you see below</h4>"
        '<p class="a-last">Sorry, we just need to make sure you\'re not a robot. For best results, '
        "please make sure your browser is accepting cookies.</p></div></div>"
        '<form method="get" action="/errors/validateCaptcha" name="">'
        f'<input type=hidden name="amzn" value="{secrets.token_urlsafe(12)}">'
        '<input type=hidden name="amzn-r" value="&#047;s">'
        '<div class="a-row a-text-center"><img src="/captcha/img/Captcha_sandbox.jpg"></div>'
        '<input autocomplete="off" spellcheck="false" placeholder="Type characters" id="captchacharacters" '
        'name="field-keywords" type="text"><button type="submit" class="a-button-text">Continue shopping'
        "</button></form></div></div>"
        "<!-- To discuss automated access to Amazon data please contact api-services-support@amazon.com. -->"
    )
    return document("Amazon.ae", body)


def _interstitial() -> str:
    body = (
        '<div class="a-container a-padding-double-large"><div class="a-section">'
        "<h4>Click the button below to continue shopping</h4>"
        '<form method="get" action="/errors/validateCaptcha" name="">'
        f'<input type=hidden name="amzn" value="{secrets.token_urlsafe(12)}">'
        '<input type=hidden name="amzn-r" value="&#047;s">'
        f'<input type=hidden name="field-keywords" value="{secrets.token_hex(3).upper()}">'
        '<span class="a-button a-button-primary"><button type="submit" class="a-button-text" '
        'alt="Continue shopping">Continue shopping</button></span></form></div></div>'
    )
    return document("Amazon.ae", body)


def _server_error() -> str:
    body = (
        '<a href="/ref=cs_503_logo"><img src="/images/G/39/error/logo.png" alt="Amazon.ae"></a>'
        '<p class="a-text-bold">Sorry! Something went wrong!</p>'
        '<a href="/ref=cs_503_link"><img src="/images/G/39/error/500-title.png" alt="Sorry! Something went '
        "wrong on our end. Please go back and try again or go to Amazon's home page.\"></a>"
        '<a href="/dogsofamazon/ref=cs_503_d"><img src="/images/G/39/error/1.jpg" alt="Dogs of Amazon"></a>'
    )
    return document("Sorry! Something went wrong!", body)


STAND_IN = StandIn(
    name=SITE,
    add_routes=add_routes,
    new_id=new_id,
    challenge=aws_waf_challenge,
    title=amazon_title,
    block_pages={"captcha": _captcha, "interstitial": _interstitial, "server_error": _server_error},
    order=0,
)
