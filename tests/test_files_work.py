"""The worker functions and their checks, called directly on files in a temporary directory."""

from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image

from looqta.files import storage, work
from looqta.files.checks import DOCX, PDF, FileRejected, check_name, check_type, declared_name, sniff
from looqta.files.config import FilesConfig, WorkOptions
from looqta.files.storage import (
    STORE_SCHEMES,
    LocalFilesStore,
    UnsafeKeyError,
    atomic_place,
    object_key,
    safe_path,
    store_from_uri,
)
from looqta.records import UPDATED, FileResults, RecordsRefused, StoreUnavailable, WorkerStore
from looqta.sandbox import assets

if TYPE_CHECKING:
    from pathlib import Path

WRITES: list[tuple[WorkerStore, FileResults]] = []
MIB = 1024 * 1024


def record_write(store: WorkerStore, results: FileResults) -> str:
    """A :class:`~looqta.records.WorkerWrite` for the store_records test."""
    WRITES.append((store, results))
    return UPDATED


def refuse_write(store: WorkerStore, results: FileResults) -> str:
    raise RecordsRefused("bad_value_files", "a NUL byte")


def store_down(store: WorkerStore, results: FileResults) -> str:
    raise StoreUnavailable("connection refused")


@pytest.fixture
def options(tmp_path: Path) -> WorkOptions:
    return WorkOptions(objects_dir=tmp_path / "objects", store_uri=str(tmp_path / "store"), excerpt_chars=80)


def spool(tmp_path: Path, body: bytes, name: str = "body") -> Path:
    path = tmp_path / "spool" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return path


def stored(tmp_path: Path, options: WorkOptions, body: bytes, kind: str, declared: str | None) -> dict:
    payload = {"spool": str(spool(tmp_path, body)), "kind": kind, "declared_type": declared}
    return work.store({**payload, "declared_name": "x"}, options)


def all_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


# checks ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (assets.image_bytes("A1", "jpg")[:64], "image/jpeg"),
        (assets.image_bytes("A1", "png")[:64], "image/png"),
        (b"GIF89a....", "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (assets.small_pdf_bytes()[:64], PDF),
        (b"PK\x03\x04rest", "application/zip"),
        (b"\n  <!DOCTYPE html><html>", "text/html"),
        (b"<html><p>see %PDF-1.7 spec</p>", "text/html"),
        (b"junk\r\n%PDF-1.4\n", PDF),
        (b"\x00\x01\x02garbage", None),
    ],
)
def test_sniff_reads_the_body_not_the_name(head: bytes, expected: str | None) -> None:
    assert sniff(head) == expected


def test_check_type_refuses_a_body_that_is_not_what_it_is_served_as() -> None:
    assert check_type("image", "image/png", "image/png") == ("image/png", "png")
    assert check_type("document", PDF, "application/octet-stream") == (PDF, "pdf")
    with pytest.raises(FileRejected, match="served as application/pdf but the body is text/html") as info:
        check_type("document", "text/html", "application/pdf")
    assert info.value.code == "type_mismatch"
    with pytest.raises(FileRejected, match="expected an image, the body is text/html"):
        check_type("image", "text/html", "text/html")
    with pytest.raises(FileRejected, match="no image type we know") as unknown:
        check_type("image", None, "image/jpeg")
    assert unknown.value.code == "unknown_type"


@pytest.mark.parametrize(
    ("url", "disposition", "expected"),
    [
        ("http://h/documents/N1.pdf?pages=3", None, "N1.pdf"),
        ("http://h/files/bad/named/..%2F..%2Fescape.pdf", None, "../../escape.pdf"),
        (
            "http://h/files/bad/named/x",
            "attachment; filename=\"..%2F..%2Fescape.pdf\"; filename*=UTF-8''..%2F..%2Fescape.pdf",
            "../../escape.pdf",
        ),
        (
            "http://h/files/bad/named/x",
            "attachment; filename=\"nul%00name.pdf\"; filename*=UTF-8''nul%00name.pdf",
            "nul\x00name.pdf",
        ),
    ],
)
def test_declared_name_decodes_what_the_server_sent(url: str, disposition: str | None, expected: str) -> None:
    assert declared_name(url, disposition) == expected


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../../escape.pdf", "path separator"),
        ("..", "parent directory"),
        ("a\\b.pdf", "path separator"),
        ("nul\x00name.pdf", "NUL"),
        ("bell\x07.pdf", "control characters"),
    ],
)
def test_check_name_refuses_hostile_names(name: str, why: str) -> None:
    with pytest.raises(FileRejected, match=why) as info:
        check_name(name)
    assert info.value.code == "unsafe_name"


def test_check_name_accepts_ordinary_names() -> None:
    for name in ("N1.pdf", "datasheet v2 (final).pdf", "صورة.png", ""):
        check_name(name)


# keys and atomic writes ------------------------------------------------------------------------


def test_object_key_is_content_addressed() -> None:
    checksum = hashlib.sha256(b"x").hexdigest()
    assert object_key(checksum, "pdf") == f"{checksum[:2]}/{checksum}.pdf"
    assert object_key(checksum, "jpg", "thumbs") == f"thumbs/{checksum[:2]}/{checksum}.jpg"
    with pytest.raises(UnsafeKeyError):
        object_key("../" + checksum[3:], "pdf")
    with pytest.raises(UnsafeKeyError):
        object_key(checksum, "pdf", "../../etc")


@pytest.mark.parametrize(
    "key",
    [
        "../escape.pdf",
        "/etc/passwd",
        "ab/../../escape.pdf",
        "ab/" + "c" * 64 + ".pdf",  # directory does not match the digest
        "thumbs/../../" + "a" * 64 + ".jpg",
        "aa/" + "a" * 64 + ".pdf\x00.txt",
    ],
)
def test_safe_path_refuses_keys_that_are_not_content_addressed(tmp_path: Path, key: str) -> None:
    with pytest.raises(UnsafeKeyError):
        safe_path(tmp_path, key)


def test_safe_path_refuses_a_symlinked_directory_pointing_outside(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "aa").symlink_to(outside)
    with pytest.raises(UnsafeKeyError, match="outside"):
        safe_path(root, "aa/" + "a" * 64 + ".pdf")


def test_atomic_place_leaves_no_temporary_file_and_keeps_existing_content(tmp_path: Path) -> None:
    source = spool(tmp_path, b"content")
    dest = tmp_path / "store" / "ab" / "file.bin"
    assert atomic_place(source, dest) is True
    assert dest.read_bytes() == b"content"
    assert atomic_place(spool(tmp_path, b"other", "other"), dest) is False  # same key, same content
    assert dest.read_bytes() == b"content"
    assert [p.name for p in dest.parent.iterdir()] == ["file.bin"]


# the worker functions --------------------------------------------------------------------------


def test_store_places_the_body_at_its_checksum_key(tmp_path: Path, options: WorkOptions) -> None:
    body = assets.image_bytes("N100", "jpg")
    result = stored(tmp_path, options, body, "image", "image/jpeg")
    checksum = hashlib.sha256(body).hexdigest()
    assert result == {
        "path": f"{checksum[:2]}/{checksum}.jpg",
        "checksum": checksum,
        "size": len(body),
        "mime_type": "image/jpeg",
    }
    assert (options.objects_dir / result["path"]).read_bytes() == body
    assert all_files(options.objects_dir) == [options.objects_dir / result["path"]]


def test_store_recognises_a_docx_behind_a_generic_content_type(tmp_path: Path, options: WorkOptions) -> None:
    result = stored(
        tmp_path, options, assets.docx_bytes("N1", "Phone"), "document", "application/octet-stream"
    )
    assert result["mime_type"] == DOCX
    assert result["path"].endswith(".docx")


@pytest.mark.parametrize(
    ("body", "kind", "declared", "code"),
    [
        (b"<!DOCTYPE html><h1>Access denied</h1>", "document", PDF, "type_mismatch"),
        (b"<html>not an image</html>", "image", "text/html", "type_mismatch"),
        (assets.small_pdf_bytes(), "image", PDF, "type_mismatch"),
        (assets.bomb_docx_bytes(), "document", DOCX, "zip_bomb"),
        (b"", "document", PDF, "empty"),
        (b"\x00" * 100, "document", "application/octet-stream", "unknown_type"),
    ],
)
def test_store_refuses_bad_bodies_and_writes_nothing(
    tmp_path: Path, options: WorkOptions, body: bytes, kind: str, declared: str, code: str
) -> None:
    with pytest.raises(FileRejected) as info:
        stored(tmp_path, options, body, kind, declared)
    assert info.value.code == code
    assert not options.objects_dir.exists() or all_files(options.objects_dir) == []


def test_store_refuses_a_hostile_name_before_reading_the_body(tmp_path: Path, options: WorkOptions) -> None:
    payload = {
        "spool": str(spool(tmp_path, assets.small_pdf_bytes())),
        "kind": "document",
        "declared_type": PDF,
        "declared_name": "../../escape.pdf",
    }
    with pytest.raises(FileRejected, match="path separator"):
        work.store(payload, options)
    assert not options.objects_dir.exists()


def test_thumbnail_is_a_small_jpeg(tmp_path: Path, options: WorkOptions) -> None:
    record = stored(tmp_path, options, assets.image_bytes("N2", "png"), "image", "image/png")
    result = work.thumbnail(record, options)
    assert result["thumbnail"] == f"thumbs/{record['checksum'][:2]}/{record['checksum']}.jpg"
    with Image.open(options.objects_dir / result["thumbnail"]) as image:
        assert image.format == "JPEG"
        assert max(image.size) == options.thumbnail_px


def test_thumbnail_of_a_truncated_image_is_refused(tmp_path: Path, options: WorkOptions) -> None:
    body = assets.image_bytes("N3", "png")
    record = stored(tmp_path, options, body[: len(body) // 2], "image", "image/png")
    with pytest.raises(FileRejected) as info:
        work.thumbnail(record, options)
    assert info.value.code == "corrupt_image"


def test_thumbnail_refuses_a_decompression_bomb(tmp_path: Path, options: WorkOptions) -> None:
    out = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(out, format="PNG")  # 100 Mpx in a few kB
    record = stored(tmp_path, options, out.getvalue(), "image", "image/png")
    with pytest.raises(FileRejected, match="decompression bomb") as info:
        work.thumbnail(record, options)
    assert info.value.code == "image_bomb"
    assert not (options.objects_dir / "thumbs").exists()


def test_thumbnail_refuses_an_image_under_pillows_default_but_over_our_pixel_limit(
    tmp_path: Path, options: WorkOptions
) -> None:
    # 36 Mpx: under Pillow's own limit (~89 Mpx, which would decode it: ~144 MiB as RGBA).
    out = io.BytesIO()
    Image.new("1", (6_000, 6_000)).save(out, format="PNG")
    record = stored(tmp_path, options, out.getvalue(), "image", "image/png")
    assert options.max_image_pixels == FilesConfig(directory=tmp_path).max_image_pixels == 25_000_000
    with pytest.raises(FileRejected, match="decompression bomb") as info:
        work.thumbnail(record, options)
    assert info.value.code == "image_bomb"
    small = replace(options, max_image_pixels=40_000_000)
    assert work.thumbnail(record, small)["thumbnail_size"] == [256, 256]


def docx_inflating_to(size: int) -> bytes:
    """A DOCX whose ``word/document.xml`` is ``size`` bytes of empty paragraphs: a few KiB zipped."""
    out = io.BytesIO()
    namespace = b"http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    head, tail = b'<w:document xmlns:w="' + namespace + b'"><w:body>', b"</w:body></w:document>"
    paragraph = b"<w:p><w:r><w:t>x</w:t></w:r></w:p>"
    count = (size - len(head) - len(tail)) // len(paragraph)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("word/document.xml", head + paragraph * count + tail)
    return out.getvalue()


def spooled_docx(tmp_path: Path, body: bytes) -> dict[str, Any]:
    return {"spool": str(spool(tmp_path, body)), "kind": "document", "declared_type": DOCX}


def test_a_small_docx_with_more_xml_than_its_part_limit_is_refused(
    tmp_path: Path, options: WorkOptions
) -> None:
    # Under the old 100 MiB limit a few KiB of DOCX made python-docx build a tree of ~24x its XML
    # and a Python object per paragraph (16 MiB of XML: ~950 MiB, 40 s of CPU; docs/security.md).
    body = docx_inflating_to(3 * 1024 * 1024)
    assert len(body) < 10 * 1024
    defaults = FilesConfig(directory=tmp_path)
    for limits in (options, defaults):
        assert (limits.max_docx_xml_bytes, limits.max_uncompressed_bytes) == (2 * MIB, 16 * MIB)
    with pytest.raises(FileRejected, match=r"document.xml inflates to 3072 KiB of XML \(limit 2048 KiB\)"):
        work.store(spooled_docx(tmp_path, body), options)
    lenient = replace(options, max_docx_xml_bytes=4 * MIB)
    assert work.store(spooled_docx(tmp_path, body), lenient)["mime_type"] == DOCX


def test_a_small_docx_inflating_past_16_mib_in_all_is_refused(tmp_path: Path, options: WorkOptions) -> None:
    body = docx_inflating_to(20 * MIB)
    lenient = replace(options, max_docx_xml_bytes=32 * MIB)
    with pytest.raises(FileRejected, match=r"zip_bomb: inflates to 20 MiB \(limit 16 MiB\)"):
        work.store(spooled_docx(tmp_path, body), lenient)


def test_extract_text_of_a_multi_page_pdf(tmp_path: Path, options: WorkOptions) -> None:
    body = assets.pdf_bytes("N4", "Phone N4", (("Brand", "Apple"),), 30)
    record = stored(tmp_path, options, body, "document", PDF)
    result = work.extract_text(record, options)
    text = (options.objects_dir / result["text_path"]).read_text()
    assert "Page 30 of 30" in text
    assert result["text_length"] == len(text)
    assert result["text_excerpt"].startswith("Phone N4 Product id: N4 Page 1 of 30")
    assert len(result["text_excerpt"]) <= options.excerpt_chars


def test_extract_text_of_a_docx(tmp_path: Path, options: WorkOptions) -> None:
    record = stored(tmp_path, options, assets.docx_bytes("N5", "Phone N5"), "document", DOCX)
    result = work.extract_text(record, options)
    assert result["text_excerpt"] == "Phone N5 Product id: N5 Generated by the looqta sandbox."


@pytest.mark.parametrize(
    ("body", "code", "why"),
    [
        (assets.encrypted_pdf_bytes(), "encrypted_pdf", "needs a password"),
        (assets.corrupt_pdf_bytes(), "corrupt_pdf", "PdfStreamError"),
    ],
)
def test_extract_text_refuses_unreadable_pdfs_and_leaves_no_text(
    tmp_path: Path, options: WorkOptions, body: bytes, code: str, why: str
) -> None:
    record = stored(tmp_path, options, body, "document", PDF)
    with pytest.raises(FileRejected, match=why) as info:
        work.extract_text(record, options)
    assert info.value.code == code
    assert not (options.objects_dir / "text").exists() or all_files(options.objects_dir / "text") == []


def test_extract_text_checks_the_zip_again(tmp_path: Path, options: WorkOptions) -> None:
    record = stored(tmp_path, options, assets.docx_bytes("N6", "Phone"), "document", DOCX)
    small = WorkOptions(options.objects_dir, options.store_uri, max_uncompressed_bytes=1_000)
    with pytest.raises(FileRejected, match="limit") as info:
        work.extract_text(record, small)
    assert info.value.code == "zip_bomb"


def test_upload_copies_file_thumbnail_and_text_to_the_store(tmp_path: Path, options: WorkOptions) -> None:
    record = stored(tmp_path, options, assets.image_bytes("N7", "jpg"), "image", "image/jpeg")
    record |= work.thumbnail(record, options)
    result = work.upload(record, options)
    store_root = tmp_path / "store"
    assert result["stored"] == {
        "path": (store_root / record["path"]).as_uri(),
        "thumbnail": (store_root / record["thumbnail"]).as_uri(),
    }
    assert (store_root / record["path"]).read_bytes() == (options.objects_dir / record["path"]).read_bytes()
    assert LocalFilesStore(str(store_root)).stat_file(record["path"]) == {"size": record["size"]}


def test_store_backend_is_chosen_by_uri_scheme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(store_from_uri(str(tmp_path)), LocalFilesStore)
    assert store_from_uri(tmp_path.as_uri()).root == tmp_path  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="no files store for scheme 's3'"):
        store_from_uri("s3://bucket/prefix")

    class MemoryStore:
        def __init__(self, uri: str) -> None:
            self.uri = uri

    monkeypatch.setitem(STORE_SCHEMES, "mem", MemoryStore)  # type: ignore[arg-type]
    assert isinstance(store_from_uri("mem://x"), MemoryStore)


def test_config_refuses_an_unknown_store_scheme(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="LOOQTA_FILES_STORE"):
        FilesConfig(directory=tmp_path, store_uri="s3://bucket")


def test_store_records_calls_the_stores_function_with_the_records_and_the_sighting(
    options: WorkOptions,
) -> None:
    files = [{"url": "u", "status": "done"}]
    payload: dict[str, Any] = {"item_key": "noon:N1:x", "files": files}
    assert work.store_records(payload, options) == {"outcome": work.NO_STORE}  # the store is off
    assert WRITES == []
    store = WorkerStore(f"{__name__}.record_write", "mongodb://127.0.0.1:1/", "looqta", 1.0, 2.0)
    configured = replace(options, worker_store=store)
    assert work.store_records(payload, configured) == {"function": store.function, "outcome": UPDATED}
    seen = {**payload, "item": {"seen_at": "2026-01-02T03:04:05+00:00"}}
    work.store_records(seen, configured)
    work.store_records({**payload, "item": {"seen_at": "2026-01-02T03:04:05"}}, configured)  # no zone
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert [
        (store, FileResults("noon", "N1:x", files, None)),
        (store, FileResults("noon", "N1:x", files, at)),
        (store, FileResults("noon", "N1:x", files, None)),
    ] == WRITES


def test_store_records_refused_is_final_and_unavailable_propagates(options: WorkOptions) -> None:
    payload: dict[str, Any] = {"item_key": "noon:N1", "files": []}
    refusing = WorkerStore(f"{__name__}.refuse_write", "mongodb://127.0.0.1:1/", "looqta", 1.0, 2.0)
    with pytest.raises(FileRejected, match="bad_value_files") as raised:
        work.store_records(payload, replace(options, worker_store=refusing))
    assert raised.value.code == "store_rejected"
    down = replace(refusing, function=f"{__name__}.store_down")
    with pytest.raises(StoreUnavailable):
        work.store_records(payload, replace(options, worker_store=down))


def test_sha256_file_streams(tmp_path: Path) -> None:
    body = os.urandom(3 * 1024 * 1024 + 7)
    assert work.sha256_file(spool(tmp_path, body)) == (hashlib.sha256(body).hexdigest(), len(body))


def test_no_key_the_functions_make_can_be_anything_but_content_addressed(
    tmp_path: Path, options: WorkOptions
) -> None:
    record = stored(tmp_path, options, assets.image_bytes("N8", "png"), "image", "image/png")
    record |= work.thumbnail(record, options)
    for path in all_files(options.objects_dir):
        assert storage.KEY_RE.match(path.relative_to(options.objects_dir).as_posix())
    assert re.fullmatch(r"[0-9a-f]{64}", record["checksum"])
