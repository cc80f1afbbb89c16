"""amazon.ae stand-in: the product page (``/dp/<ASIN>``) and the price markup it shares with cards.

A product page carries one of the current price blocks (docs/sites.md, "amazon product"): the
filled ``#corePrice_feature_div .a-offscreen``, ``.priceToPay`` with its ``.a-offscreen`` filled,
the same emptied with the price only in the accessibility label, or only whole + fraction; the
hidden ``#twister-plus-price-data-price`` input on some; availability; the full-size image; the
brand (byline, "Product overview") and model number ("Product information"); and a
"Product guides and documents" list. It is server-rendered: nothing here needs JavaScript.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING
from urllib.parse import quote

from looqta.sandbox.markup import MALFORMED_PRICE, amount, count, document
from looqta.sandbox.variants import has_offer, pick, share

if TYPE_CHECKING:
    from decimal import Decimal

    from looqta.sandbox.catalogue import Product

SITE = "amazon"
IMAGE_EXT = "jpg"
#: Product-page price blocks (docs/sites.md, "amazon product").
PRICE_BLOCKS = ("core_price", "price_to_pay", "accessibility_label", "whole_fraction")
#: How the brand byline reads, and how the "Product information" is laid out.
BYLINES = ("Visit the {} Store", "Brand: {}")
DETAIL_LAYOUTS = ("prodDetTable", "detailBullets")
#: Share of products whose page gives no model number (the seller left it out).
NO_MODEL_SHARE = 0.15


def shows_model(product: Product) -> bool:
    """Whether the product's page gives its model number (about 85 % do)."""
    return bool(product.model_code) and share(SITE, product.source_id, "model") >= NO_MODEL_SHARE


def details(product: Product) -> str:
    """The brand byline, the "Product overview" brand row and the "Product information" block,
    with the model number as the page's layout names it (docs/sites.md, "amazon product")."""
    brand, asin = escape(product.brand), product.source_id
    byline = pick(BYLINES, SITE, asin, "byline").format(brand)
    overview = (
        '<div id="productOverview_feature_div"><table class="a-normal a-spacing-micro"><tbody>'
        '<tr class="a-spacing-small po-brand" role="listitem"><td class="a-span3"><span class="a-size-base '
        f'a-text-bold">Brand</span></td><td class="a-span9"><span class="a-size-base po-break-word">{brand}'
        "</span></td></tr></tbody></table></div>"
    )
    code = escape(product.model_code) if shows_model(product) else ""
    if pick(DETAIL_LAYOUTS, SITE, asin, "details") == "prodDetTable":
        rows = [("Brand", brand), ("Model Number", code), ("Mfr Part Number", code), ("ASIN", asin)]
        cells = "".join(
            f'<tr><th class="a-color-secondary a-size-base prodDetSectionEntry"> {label} </th>'
            f'<td class="a-size-base prodDetAttrValue"> {value} </td></tr>'
            for label, value in rows
            if value
        )
        information = (
            f'<table id="productDetails_techSpec_section_1" class="a-keyvalue prodDetTable">{cells}</table>'
        )
    else:
        rows = [("Item model number", code), ("ASIN", asin)]
        items = "".join(
            f'<li><span class="a-list-item"><span class="a-text-bold">{label} &rlm; : &lrm;</span> '
            f"<span>{value}</span></span></li>"
            for label, value in rows
            if value
        )
        information = f'<div id="detailBullets_feature_div"><ul class="detail-bullet-list">{items}</ul></div>'
    return (
        f'<div id="bylineInfo_feature_div"><a id="bylineInfo" href="/stores/{quote(product.brand)}/page/1">'
        f"{byline}</a></div>\n{overview if pick((True, True, False), SITE, asin, 'overview') else ''}\n"
        f'<div id="prodDetails"><h1>Product information</h1>{information}</div>'
    )


def price_block(product: Product) -> str:
    return pick(PRICE_BLOCKS, SITE, product.source_id, "price-block")


def offscreen_price(text: str, whole_fraction: str) -> str:
    return (
        f'<span class="a-price" data-a-size="xl" data-a-color="base"><span class="a-offscreen">'
        f'{escape(text)}</span><span aria-hidden="true">{whole_fraction}</span></span>'
    )


def whole_fraction(value: Decimal) -> str:
    whole, fraction = amount(value).split(".")
    return (
        f'<span class="a-price-symbol">AED</span><span class="a-price-whole">{whole}'
        f'<span class="a-price-decimal">.</span></span><span class="a-price-fraction">{fraction}</span>'
    )


def search_form(query: str = "") -> str:
    return (
        '<form id="nav-search-bar-form" action="/s" method="get" role="search">'
        f'<input type="text" id="twotabsearchtextbox" name="field-keywords" value="{escape(query)}">'
        '<input type="submit" id="nav-search-submit-button" value="Go"></form>'
    )


def _product_price(product: Product, malformed: bool) -> str:
    if malformed:
        return (
            f'<div id="corePriceDisplay_desktop_feature_div"><span class="a-price priceToPay">'
            f'<span class="a-offscreen">AED&nbsp;{MALFORMED_PRICE}<span class="a-price-whole">'
        )
    text = f"AED\xa0{amount(product.price)}"
    block = price_block(product)
    if block == "core_price":
        return f'<div id="corePrice_feature_div">{offscreen_price(text, whole_fraction(product.price))}</div>'
    offscreen = escape(text) if block == "price_to_pay" else ""
    label = ""
    if block == "accessibility_label":
        label = (
            f'<span id="apex-pricetopay-accessibility-label" class="aok-offscreen">{escape(text)} with 5 '
            "percent savings</span>"
        )
    return (
        '<div id="corePriceDisplay_desktop_feature_div"><div '
        'class="a-section a-spacing-none aok-align-center">'
        f'{label}<span class="a-price aok-align-center reinventPricePriceToPayMargin priceToPay" '
        f'data-a-size="xl" data-a-color="base"><span class="a-offscreen">{offscreen}</span>'
        f'<span aria-hidden="true">{whole_fraction(product.price)}</span></span></div></div>'
    )


def _documents(product: Product, assets: str) -> str:
    return (
        '<div id="productDocuments_feature_div" class="celwidget"><div class="a-section">'
        '<h2>Product guides and documents</h2><div class="a-row">'
        f'<a class="a-link-normal" href="{assets}/documents/{product.source_id}.pdf" target="_blank">'
        "User Manual (PDF)</a></div></div></div>"
    )


def render_product(product: Product, malformed: bool = False, assets: str = "") -> str:
    asin = product.source_id
    title = escape(product.title)
    reviews = ""
    if product.rating is not None:
        n = product.review_count
        review_text = pick((f"{count(n)} ratings", f"({count(n)})"), SITE, asin, "review-text")
        reviews = (
            '<div id="averageCustomerReviews_feature_div"><div '
            f'id="averageCustomerReviews" data-asin="{asin}">'
            '<span id="acrPopover" class="reviewCountTextLinkedHistogram" '
            f'title="{product.rating} out of 5 stars">'
            f'<span class="a-size-base a-color-base">{product.rating}</span></span> '
            f'<a id="acrCustomerReviewLink" href="#customerReviews"><span id="acrCustomerReviewText" '
            f'class="a-size-base">{review_text}</span></a></div></div>'
        )
    if has_offer(SITE, asin):
        price = _product_price(product, malformed)
        availability = (
            '<span class="a-size-medium a-color-success primary-availability-message">In Stock</span>'
        )
        twister = ""
        if pick((True, False), SITE, asin, "twister"):
            value = product.price.normalize()
            twister = f'<input type="hidden" id="twister-plus-price-data-price" value="{value}">'
    else:
        price = ""
        availability = (
            '<span class="a-size-medium a-color-price primary-availability-message">'
            "Currently unavailable.</span>"
        )
        twister = ""
    large = f"{assets}/images/{asin}.{IMAGE_EXT}"
    body = (
        f'{search_form()}\n<div id="dp" class="a-container electronics" data-asin="{asin}">\n'
        f'<div id="imageBlock"><div id="imgTagWrapperId" class="imgTagWrapper"><img id="landingImage" '
        f'alt="{title}" src="{large}?size=679" data-old-hires="{large}" '
        f'data-a-dynamic-image=\'{{"{large}":[1500,1500],"{large}?size=679":[679,679]}}\'></div></div>\n'
        f'<div id="centerCol">\n<div id="titleSection"><h1 id="title" class="a-size-large a-spacing-none">'
        f'<span id="productTitle" class="a-size-large product-title-word-break">        {title}       '
        f"</span></h1></div>\n"
        f"{details(product)}\n{reviews}\n{price}\n{twister}\n"
        f'<div id="availability_feature_div"><div id="availability" class="a-section a-spacing-base">'
        f"{availability}</div></div>\n{_documents(product, assets)}\n"
        f'<div id="customerReviews"></div>\n</div>\n</div>'
    )
    return document(f"Amazon.ae : {product.title}", body)
