"""The offline site stand-ins: catalogue, page markup, files, faults and the request log."""

from __future__ import annotations

import http.client
import io
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import TYPE_CHECKING

import docx
import pytest
from parsel import Selector
from PIL import Image
from pypdf import PdfReader
from pypdf.errors import PdfReadError

from looqta.sandbox.catalogue import Catalogue
from looqta.sandbox.client import SandboxError, SandboxProcess
from looqta.sandbox.sites import noon
from looqta.sandbox.variants import has_offer

if TYPE_CHECKING:
    from email.message import Message

    from looqta.sandbox.catalogue import Product

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
UA = "looqta-tests/1.0"


def fetch(url: str) -> tuple[int, Message, bytes]:
    request = urllib.request.Request(url, headers={"User-Agent": UA})
    try:
        with _OPENER.open(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


@pytest.fixture(scope="session")
def catalogues() -> dict[str, Catalogue]:
    """The same catalogues the default sandbox serves."""
    return {site: Catalogue(site) for site in ("amazon", "noon")}


def _query_with_results(catalogue: Catalogue, low: int, high: int) -> str:
    for query in ("iphone 15 pro max", "galaxy s24 ultra", "pixel 8 pro", "macbook air m3"):
        if low <= len(catalogue.search_all(query)) <= high:
            return query
    raise AssertionError("no query in the expected range")


# catalogue -------------------------------------------------------------------------------------


def test_catalogue_is_deterministic_per_seed_and_site() -> None:
    first, again = Catalogue("amazon", 300, seed=7), Catalogue("amazon", 300, seed=7)
    assert first.products == again.products
    assert Catalogue("amazon", 300, seed=8).products != first.products
    noon_prices = [p.price for p in Catalogue("noon", 300, seed=7).products]
    assert noon_prices != [p.price for p in first.products]


def test_catalogue_fields(catalogues: dict[str, Catalogue]) -> None:
    amazon_products, noon_products = catalogues["amazon"].products, catalogues["noon"].products
    assert len(amazon_products) == 10_000
    assert all(re.fullmatch(r"B0[A-Z0-9]{8}", p.source_id) for p in amazon_products)
    assert all(re.fullmatch(r"N\d{8}[A-Z]", p.source_id) for p in noon_products)
    assert len({p.source_id for p in amazon_products}) == 10_000
    for product in amazon_products:
        assert product.price == product.price.quantize(Decimal("0.01")) > 0
        assert product.currency == "AED"
        if product.rating is None:
            assert product.review_count == 0
        else:
            assert Decimal("1") <= product.rating <= Decimal("5")
            assert product.review_count > 0
    unrated = sum(p.rating is None for p in amazon_products)
    assert 500 < unrated < 1500
    assert catalogues["amazon"].get(amazon_products[5].source_id) is amazon_products[5]
    assert catalogues["amazon"].get("B0NOTTHERE") is None


def test_catalogue_builds_fast() -> None:
    started = time.perf_counter()
    Catalogue("noon", 10_000, seed=99)  # a seed no other test draws: its world is drawn too
    assert time.perf_counter() - started < 2.0


@pytest.mark.parametrize("site", ["amazon", "noon"])
def test_catalogue_search(catalogues: dict[str, Catalogue], site: str) -> None:
    catalogue = catalogues[site]
    iphones = catalogue.search_all("iphone")
    assert 30 <= len(iphones) <= 120
    assert all("iphone" in p.title.lower().split() for p in iphones)
    assert catalogue.search_all("IPHONE") == iphones
    assert catalogue.search_all("iphon") == []  # whole words only
    assert catalogue.search_all("nokia 3310") == []
    positions = [catalogue.products.index(p) for p in iphones]
    assert positions == sorted(positions)
    paged: list[Product] = []
    page = 1
    while True:
        result = catalogue.search("iphone", page, 7)
        assert result.total == len(iphones)
        if not result.products:
            break
        paged += result.products
        page += 1
    assert paged == iphones
    assert page - 1 == result.pages


# amazon ----------------------------------------------------------------------------------------


def test_files_are_served_from_each_sites_cdn_origin(
    sandbox: SandboxProcess, catalogues: dict[str, Catalogue]
) -> None:
    # Real sites serve images and datasheets from CDN hosts: other origins than their pages.
    assert len({sandbox.url(name) for name in ("amazon", "noon", "amazon-cdn", "noon-cdn")}) == 4
    product = catalogues["noon"].products[0]
    image = fetch(sandbox.url("noon-cdn", f"/images/{product.source_id}.png"))
    assert (image[0], image[1].get_content_type()) == (200, "image/png")
    assert image[2] == fetch(sandbox.url("noon", f"/images/{product.source_id}.png"))[2]  # same asset
    assert fetch(sandbox.url("noon-cdn", f"/documents/{product.source_id}.pdf"))[2].startswith(b"%PDF")
    assert fetch(sandbox.url("noon-cdn", "/files/bad/corrupt.pdf"))[0] == 200
    assert fetch(sandbox.url("noon-cdn", noon.product_path(product)))[0] == 404  # files only
    assert sandbox.faults("noon-cdn")["latency_ms"] == 0  # faults and a request log of its own


def test_without_a_cdn_files_are_linked_on_the_sites_own_origin(catalogues: dict[str, Catalogue]) -> None:
    product = catalogues["noon"].products[0]
    with SandboxProcess(sites=("noon",), extra_args=("--no-cdn",)) as own:
        assert list(own.urls) == ["noon"]
        page = Selector(text=fetch(own.url("noon", noon.product_path(product)))[2].decode())
    assert page.css("[class*=imageWrapper] img::attr(src)").get() == f"/images/{product.source_id}.png"


def test_sites_are_distinct_origins(sandbox: SandboxProcess) -> None:
    assert sandbox.url("amazon") != sandbox.url("noon")
    assert fetch(sandbox.url("noon", "/s?k=iphone"))[0] == 404
    assert fetch(sandbox.url("amazon", "/uae-en/search?q=iphone"))[0] == 404


# files -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("site", "ext", "fmt"), [("amazon", "jpg", "JPEG"), ("noon", "png", "PNG")])
def test_images(
    sandbox: SandboxProcess, catalogues: dict[str, Catalogue], site: str, ext: str, fmt: str
) -> None:
    source_id = catalogues[site].products[0].source_id
    status, headers, body = fetch(sandbox.url(site, f"/images/{source_id}.{ext}"))
    assert status == 200
    assert headers.get_content_type() == f"image/{fmt.lower()}"
    image = Image.open(io.BytesIO(body))
    assert image.format == fmt
    assert image.size == (400, 400)
    assert fetch(sandbox.url(site, f"/images/{source_id}.{ext}"))[2] == body
    assert fetch(sandbox.url(site, "/images/UNKNOWN.jpg"))[0] == 404


def test_pdf_datasheet(sandbox: SandboxProcess, catalogues: dict[str, Catalogue]) -> None:
    product = catalogues["amazon"].products[3]
    status, headers, body = fetch(sandbox.url("amazon", f"/documents/{product.source_id}.pdf"))
    assert status == 200
    assert headers.get_content_type() == "application/pdf"
    reader = PdfReader(io.BytesIO(body))
    assert len(reader.pages) == 1
    text = reader.pages[0].extract_text()
    assert product.title in " ".join(text.split())  # a long title wraps
    assert product.source_id in text
    assert f"{product.price:,.2f}" in text

    body = fetch(sandbox.url("amazon", f"/documents/{product.source_id}.pdf?pages=5"))[2]
    reader = PdfReader(io.BytesIO(body))
    assert len(reader.pages) == 5
    assert all(product.source_id in page.extract_text() for page in reader.pages)
    assert fetch(sandbox.url("amazon", f"/documents/{product.source_id}.pdf?pages=0"))[0] == 400


def test_docx_document(sandbox: SandboxProcess, catalogues: dict[str, Catalogue]) -> None:
    product = catalogues["noon"].products[1]
    status, _, body = fetch(sandbox.url("noon", f"/documents/{product.source_id}.docx"))
    assert status == 200
    text = "\n".join(p.text for p in docx.Document(io.BytesIO(body)).paragraphs)
    assert product.title in text
    assert product.source_id in text


def test_bad_pdfs(sandbox: SandboxProcess) -> None:
    status, headers, body = fetch(sandbox.url("amazon", "/files/bad/corrupt.pdf"))
    assert status == 200
    assert body.startswith(b"%PDF-")
    with pytest.raises(PdfReadError):
        PdfReader(io.BytesIO(body)).pages[0].extract_text()

    body = fetch(sandbox.url("amazon", "/files/bad/encrypted.pdf"))[2]
    reader = PdfReader(io.BytesIO(body))
    assert reader.is_encrypted
    assert reader.decrypt("wrong password") == 0

    status, headers, body = fetch(sandbox.url("amazon", "/files/bad/wrong-type.pdf"))
    assert headers.get_content_type() == "application/pdf"
    assert not body.startswith(b"%PDF")
    assert b"<html" in body.lower()

    status, headers, body = fetch(sandbox.url("amazon", "/files/bad/html-as-image.jpg"))
    assert headers.get_content_type() == "text/html"
    assert b"<html" in body.lower()


def test_bomb_docx_is_small_on_the_wire_and_huge_inflated(sandbox: SandboxProcess) -> None:
    status, _, body = fetch(sandbox.url("noon", "/files/bad/bomb.docx"))
    assert status == 200
    assert len(body) < 1_000_000
    members = zipfile.ZipFile(io.BytesIO(body)).infolist()
    assert max(member.file_size for member in members) >= 200_000_000


def test_huge_bin_streams_chunked(sandbox: SandboxProcess) -> None:
    status, headers, body = fetch(sandbox.url("amazon", "/files/bad/huge.bin?mb=3"))
    assert status == 200
    assert headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in headers
    assert len(body) == 3 * 1024 * 1024


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/files/bad/..%2F..%2Fescape.pdf", "../../escape.pdf"),
        ("/files/bad/nul%00name.pdf", "nul\x00name.pdf"),
        ("/files/bad/named/..%2Fetc%2Fpasswd", "../etc/passwd"),
    ],
)
def test_hostile_names_serve_valid_pdfs(sandbox: SandboxProcess, path: str, name: str) -> None:
    status, headers, body = fetch(sandbox.url("amazon", path))
    assert status == 200
    assert len(PdfReader(io.BytesIO(body)).pages) == 1
    disposition = headers["Content-Disposition"]
    assert "filename*=UTF-8''" + urllib.parse.quote(name, safe="") in disposition


def test_state_page(sandbox: SandboxProcess) -> None:
    status, headers, body = fetch(sandbox.url("noon", "/__sandbox__/state"))
    page = Selector(text=body.decode())
    assert status == 200
    assert "server_seen=1" in headers["Set-Cookie"]
    assert page.css("pre#seen")
    script = "".join(page.css("script::text").getall())
    assert script.index("JSON.stringify") < script.index('document.cookie = "looqta_seen=1')
    assert 'localStorage.setItem("looqta_seen", "1")' in script
    assert 'setAttribute("data-done", "true")' in script


# faults and request log ------------------------------------------------------------------------


def test_status_fault_with_retry_after_for_n_requests(clean_sandbox: SandboxProcess) -> None:
    sandbox = clean_sandbox
    sandbox.set_faults("amazon", status=429, retry_after=7, times=2, path_prefix="/s")
    responses = [fetch(sandbox.url("amazon", "/s?k=iphone")) for _ in range(3)]
    assert [status for status, _, _ in responses] == [429, 429, 200]
    assert [headers.get("Retry-After") for _, headers, _ in responses[:2]] == ["7", "7"]
    assert responses[2][1].get("Retry-After") is None
    assert fetch(sandbox.url("noon", "/uae-en/"))[0] == 200  # the other site is untouched
    assert sandbox.faults("amazon")["remaining"] == 0

    date = "Wed, 21 Oct 2026 07:28:00 GMT"
    sandbox.set_faults("noon", status=503, retry_after=date)
    assert [fetch(sandbox.url("noon", "/uae-en/"))[0] for _ in range(3)] == [503] * 3
    assert fetch(sandbox.url("noon", "/uae-en/"))[1]["Retry-After"] == date
    sandbox.clear_faults("noon")
    assert fetch(sandbox.url("noon", "/uae-en/"))[0] == 200


def test_path_prefix_and_control_routes_are_never_faulted(clean_sandbox: SandboxProcess) -> None:
    sandbox = clean_sandbox
    sandbox.set_faults("amazon", status=503, path_prefix="/dp/")
    assert fetch(sandbox.url("amazon", "/s?k=iphone"))[0] == 200
    assert fetch(sandbox.url("amazon", "/dp/B0NOTTHERE"))[0] == 503
    sandbox.set_faults("amazon", status=503)
    assert fetch(sandbox.url("amazon", "/"))[0] == 503
    assert sandbox.faults("amazon")["status"] == 503  # /__sandbox__/ still answers
    assert fetch(sandbox.url("amazon", "/__sandbox__/state"))[0] == 200


def test_invalid_fault_requests_are_rejected(clean_sandbox: SandboxProcess) -> None:
    with pytest.raises(SandboxError, match="unknown fault fields"):
        clean_sandbox.set_faults("amazon", sttaus=429)
    with pytest.raises(SandboxError, match="latency_ms"):
        clean_sandbox.set_faults("amazon", latency_ms=-5)
    assert clean_sandbox.faults("amazon")["status"] is None


@pytest.mark.serial  # the fast answer is bounded in wall-clock time
def test_latency_is_honoured_without_blocking_the_loop(clean_sandbox: SandboxProcess) -> None:
    sandbox = clean_sandbox
    sandbox.set_faults("amazon", latency_ms=1200, path_prefix="/dp/")
    with ThreadPoolExecutor(max_workers=1) as pool:
        started = time.perf_counter()
        slow = pool.submit(fetch, sandbox.url("amazon", "/dp/B0NOTTHERE"))
        time.sleep(0.1)  # let the slow request reach the server
        fast_started = time.perf_counter()
        assert fetch(sandbox.url("amazon", "/"))[0] == 200
        fast_elapsed = time.perf_counter() - fast_started
        assert not slow.done()
        assert slow.result()[0] == 404
        slow_elapsed = time.perf_counter() - started
    assert slow_elapsed >= 1.2
    assert fast_elapsed < 0.6


def test_max_in_flight_answers_429_past_the_sites_concurrency(
    clean_sandbox: SandboxProcess, catalogues: dict[str, Catalogue]
) -> None:
    sandbox = clean_sandbox
    sandbox.set_faults("amazon", latency_ms=800, max_in_flight=2, retry_after=1, path_prefix="/dp/")
    path = f"/dp/{catalogues['amazon'].products[0].source_id}"
    with ThreadPoolExecutor(max_workers=2) as pool:
        held = [pool.submit(fetch, sandbox.url("amazon", path)) for _ in range(2)]
        time.sleep(0.3)  # both are being answered (800 ms of latency)
        status, headers, _ = fetch(sandbox.url("amazon", path))
        assert (status, headers.get("Retry-After")) == (429, "1")
        assert fetch(sandbox.url("amazon", "/"))[0] == 200  # outside path_prefix: not counted
        assert [future.result()[0] for future in held] == [200, 200]
    assert fetch(sandbox.url("amazon", path))[0] == 200  # room again
    assert sandbox.faults("amazon")["rate_limited"] == 1
    with pytest.raises(SandboxError, match="max_in_flight"):
        sandbox.set_faults("amazon", max_in_flight=0)


def test_truncate_dataloss_cuts_the_transfer(
    clean_sandbox: SandboxProcess, catalogues: dict[str, Catalogue]
) -> None:
    sandbox = clean_sandbox
    path = f"/dp/{catalogues['amazon'].products[0].source_id}"
    full = fetch(sandbox.url("amazon", path))[2]
    sandbox.set_faults("amazon", truncate=True, path_prefix="/dp/")
    request = urllib.request.Request(sandbox.url("amazon", path))
    with _OPENER.open(request, timeout=30) as response:
        assert int(response.headers["Content-Length"]) == len(full)
        with pytest.raises(http.client.IncompleteRead) as excinfo:
            response.read()
    partial = excinfo.value.partial
    assert full.startswith(partial)
    assert 0.3 < len(partial) / len(full) < 0.5


def test_truncate_short_serves_a_consistent_cut_body(clean_sandbox: SandboxProcess) -> None:
    sandbox = clean_sandbox
    full = fetch(sandbox.url("amazon", "/s?k=iphone"))[2]
    sandbox.set_faults("amazon", truncate=True, truncate_mode="short")
    status, headers, body = fetch(sandbox.url("amazon", "/s?k=iphone"))
    assert status == 200
    assert int(headers["Content-Length"]) == len(body)
    assert full.startswith(body)
    assert 0.3 < len(body) / len(full) < 0.5
    assert b"</html>" not in body


def test_malformed_garbles_prices(clean_sandbox: SandboxProcess, catalogues: dict[str, Catalogue]) -> None:
    sandbox = clean_sandbox
    sandbox.set_faults("amazon", malformed=True)
    sandbox.set_faults("noon", malformed=True)
    body = fetch(sandbox.url("amazon", "/s?k=iphone"))[2].decode()
    assert "AED&nbsp;N/A" in body
    assert not re.search(r"AED&nbsp;[\d,]+\.\d\d", body)
    assert body.count("<span") > body.count("</span>")  # unclosed tags
    product = next(p for p in catalogues["noon"].products if has_offer("noon", p.source_id))
    page = fetch(sandbox.url("noon", noon.product_path(product)))[2].decode()
    assert '"price": "N/A"' in page
    assert f"{product.price:,.2f}" not in page
    sandbox.clear_faults()
    assert "AED&nbsp;N/A" not in fetch(sandbox.url("amazon", "/s?k=iphone"))[2].decode()


def test_request_log(clean_sandbox: SandboxProcess) -> None:
    sandbox = clean_sandbox
    before = time.time()
    fetch(sandbox.url("amazon", "/s?k=iphone&page=2"))
    fetch(sandbox.url("amazon", "/dp/B0NOTTHERE"))
    fetch(sandbox.url("amazon", "/__sandbox__/state"))
    log = sandbox.requests("amazon")
    assert [(e["method"], e["path_qs"], e["status"]) for e in log] == [
        ("GET", "/s?k=iphone&page=2", 200),
        ("GET", "/dp/B0NOTTHERE", 404),
    ]
    assert all(e["user_agent"] == UA and before - 1 <= e["t"] <= time.time() for e in log)
    assert sandbox.requests("noon") == []
    sandbox.clear_requests("amazon")
    assert sandbox.requests("amazon") == []


# command line and client -----------------------------------------------------------------------


def test_cli_refuses_non_loopback_host() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "looqta.sandbox", "--host", "0.0.0.0", "--port", "0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "non-loopback" in result.stderr
    assert result.stdout == ""


def test_client_reports_start_failure_with_stderr() -> None:
    with pytest.raises(SandboxError, match="non-loopback"):
        SandboxProcess(extra_args=("--host", "192.168.1.10")).start()


def test_client_starts_a_small_sandbox_and_stops_it() -> None:
    started = time.perf_counter()
    with SandboxProcess(sites=("noon",), products=50, seed=5) as small:
        assert time.perf_counter() - started < 5
        assert list(small.urls) == ["noon", "noon-cdn"]
        page = Selector(text=fetch(small.url("noon", "/uae-en/search/?q=apple"))[2].decode())
        expected = Catalogue("noon", 50, seed=5).search(query="apple", page_size=noon.PAGE_SIZE).products
        boxes = page.css('[data-qa="plp-product-box"] [data-qa="plp-product-box-name"]::attr(title)').getall()
        assert set(boxes) == {p.title for p in expected}
        process = small._process
    assert process is not None
    assert process.returncode == 0  # SIGTERM handled: clean exit
