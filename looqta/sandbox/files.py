"""Routes every site shares: product images, documents and the deliberately bad files."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING
from urllib.parse import quote

from aiohttp import web

from looqta.sandbox import assets
from looqta.sandbox.context import site_context
from looqta.sandbox.markup import amount

if TYPE_CHECKING:
    from looqta.sandbox.catalogue import Product

HUGE_DEFAULT_MIB = 64
HUGE_MAX_MIB = 4096
_MIB = 1024 * 1024
_HUGE_CHUNK = bytes(range(256)) * (_MIB // 256)
_PDF = "application/pdf"
_DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
_NOT_A_PDF = "<!DOCTYPE html><html><body><h1>Access denied</h1><p>Please log in.</p></body></html>"


def _product(request: web.Request) -> Product:
    product = site_context(request).catalogue.get(request.match_info["ident"])
    if product is None:
        raise web.HTTPNotFound(text="unknown product id")
    return product


def _int_query(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name} must be an integer") from None
    if not low <= value <= high:
        raise web.HTTPBadRequest(text=f"{name} must be in {low}..{high}")
    return value


def _specs(product: Product) -> tuple[tuple[str, str], ...]:
    rating = "no reviews" if product.rating is None else f"{product.rating} / 5"
    return (
        ("Brand", product.brand),
        ("Category", product.category),
        ("Price", f"{product.currency} {amount(product.price)}"),
        ("Rating", rating),
        ("Reviews", str(product.review_count)),
        ("Site", product.site),
    )


async def _image(request: web.Request) -> web.Response:
    product = _product(request)
    ext = request.match_info["ext"]
    body = await asyncio.to_thread(assets.image_bytes, product.source_id, ext)
    return web.Response(body=body, content_type=assets.IMAGE_FORMATS[ext][1])


async def _pdf(request: web.Request) -> web.Response:
    product = _product(request)
    default_pages = site_context(request).pdf_pages
    pages = _int_query(request, "pages", default_pages, 1, assets.MAX_PDF_PAGES)
    body = await asyncio.to_thread(assets.pdf_bytes, product.source_id, product.title, _specs(product), pages)
    return web.Response(body=body, content_type=_PDF)


async def _docx(request: web.Request) -> web.Response:
    product = _product(request)
    body = await asyncio.to_thread(assets.docx_bytes, product.source_id, product.title)
    return web.Response(body=body, content_type=_DOCX)


async def _corrupt_pdf(request: web.Request) -> web.Response:
    return web.Response(body=assets.corrupt_pdf_bytes(), content_type=_PDF)


async def _encrypted_pdf(request: web.Request) -> web.Response:
    body = await asyncio.to_thread(assets.encrypted_pdf_bytes)
    return web.Response(body=body, content_type=_PDF)


async def _bomb_docx(request: web.Request) -> web.Response:
    body = await asyncio.to_thread(assets.bomb_docx_bytes)
    return web.Response(body=body, content_type=_DOCX)


async def _huge(request: web.Request) -> web.StreamResponse:
    mib = _int_query(request, "mb", HUGE_DEFAULT_MIB, 0, HUGE_MAX_MIB)
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    for _ in range(mib):
        await response.write(_HUGE_CHUNK)
    await response.write_eof()
    return response


async def _wrong_type_pdf(request: web.Request) -> web.Response:
    return web.Response(text=_NOT_A_PDF, headers={"Content-Type": _PDF})


async def _html_as_image(request: web.Request) -> web.Response:
    return web.Response(text=_NOT_A_PDF, content_type="text/html")


async def _named(request: web.Request) -> web.Response:
    """A valid PDF under a hostile name, echoed in Content-Disposition."""
    name = request.match_info["name"]
    printable = "".join(ch if ch.isprintable() and ch != '"' else quote(ch) for ch in name)
    disposition = f"attachment; filename=\"{printable}\"; filename*=UTF-8''{quote(name, safe='')}"
    body = await asyncio.to_thread(assets.small_pdf_bytes)
    return web.Response(body=body, content_type=_PDF, headers={"Content-Disposition": disposition})


def add_file_routes(app: web.Application) -> None:
    router = app.router
    router.add_get(r"/images/{ident}.{ext:jpg|png}", _image)
    router.add_get("/documents/{ident}.pdf", _pdf)
    router.add_get("/documents/{ident}.docx", _docx)
    router.add_get("/files/bad/corrupt.pdf", _corrupt_pdf)
    router.add_get("/files/bad/encrypted.pdf", _encrypted_pdf)
    router.add_get("/files/bad/bomb.docx", _bomb_docx)
    router.add_get("/files/bad/huge.bin", _huge)
    router.add_get("/files/bad/wrong-type.pdf", _wrong_type_pdf)
    router.add_get("/files/bad/html-as-image.jpg", _html_as_image)
    router.add_get("/files/bad/named/{name:.+}", _named)
    router.add_get("/files/bad/{name}", _named)
