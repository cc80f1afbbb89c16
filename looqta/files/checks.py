"""What a downloaded body really is, and the refusals: hostile names, wrong types, zip bombs.

Every refusal is a :class:`FileRejected` with a short stat-friendly ``code`` and a sentence a
person can act on. They are final: a task that raises one is not retried.
"""

from __future__ import annotations

import zipfile
from email.message import Message
from email.utils import collapse_rfc2231_value
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from pathlib import Path

IMAGE_TYPES: dict[str, str] = {
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
}
PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
DOCUMENT_TYPES: dict[str, str] = {PDF: "pdf", DOCX: "docx"}
#: The kinds of file an item lists, and the types each accepts.
KIND_TYPES: dict[str, dict[str, str]] = {"image": IMAGE_TYPES, "document": DOCUMENT_TYPES}
#: Content types that say nothing about the body; anything else must match what it is.
KIND_NAMES: dict[str, str] = {"image": "an image", "document": "a document (PDF or DOCX)"}
GENERIC_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream", "application/download"})
SNIFF_BYTES = 2048
MAX_ZIP_MEMBERS = 2_000
_MIB = 1024 * 1024


class FileRejected(Exception):
    """A body that is not what it claims, or not safe to open. Final: never retried."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(code, detail)
        self.code = code
        self.detail = detail

    @property
    def reason(self) -> str:
        return f"{self.code}: {self.detail}"

    def __str__(self) -> str:
        return self.reason


def sniff(head: bytes) -> str | None:
    """The media type the first bytes of a body show; None when they show nothing we know."""
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"PK\x03\x04"):
        return "application/zip"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"<?xml"):
        return "application/xml"
    if text.startswith(b"<"):  # <!doctype html>, <html>, an error page's bare markup
        return "text/html"
    if b"%PDF-" in head[:1024]:  # the spec lets a PDF's header come after some junk
        return PDF
    return None


def media_type(content_type: str | None) -> str:
    """``"application/pdf"`` from ``"Application/PDF; charset=binary"``."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def check_type(kind: str, sniffed: str | None, declared: str | None) -> tuple[str, str]:
    """``(media type, extension)`` when the body fits ``kind`` and its Content-Type; else refuse."""
    accepted = KIND_TYPES[kind]
    declared_type = media_type(declared)
    if sniffed is None:
        raise FileRejected(
            "unknown_type", f"the body is no {kind} type we know (served as {declared_type!r})"
        )
    if declared_type not in GENERIC_TYPES and declared_type != sniffed:
        raise FileRejected(
            "type_mismatch",
            f"served as {declared_type} but the body is {sniffed} (expected {KIND_NAMES[kind]})",
        )
    if sniffed not in accepted:
        raise FileRejected("type_mismatch", f"expected {KIND_NAMES[kind]}, the body is {sniffed}")
    return sniffed, accepted[sniffed]


def declared_name(url: str, content_disposition: str | None) -> str:
    """The file name the server gave: Content-Disposition (RFC 2231 decoded), else the URL's last
    path segment, percent-decoded. Only ever checked and recorded, never used as a path."""
    if content_disposition:
        message = Message()
        message["content-disposition"] = content_disposition
        names = [
            value for key, value in message.get_params(header="content-disposition") if key == "filename"
        ]
        extended = [value for value in names if isinstance(value, tuple)]  # filename*= wins (RFC 6266)
        if extended:
            return collapse_rfc2231_value(extended[0])
        if names:
            return str(names[0])
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1])


def check_name(name: str) -> None:
    """Refuse a name that would be dangerous if anything downstream used it as a path, as it is
    or percent-decoded."""
    decoded = unquote(name)
    if decoded != name:
        check_name(decoded)
    if "\x00" in name:
        raise FileRejected("unsafe_name", f"the file name {name!r} contains a NUL byte")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise FileRejected("unsafe_name", f"the file name {name!r} contains control characters")
    if "/" in name or "\\" in name:
        raise FileRejected("unsafe_name", f"the file name {name!r} contains a path separator")
    if name in (".", "..") or name.startswith(".."):
        raise FileRejected("unsafe_name", f"the file name {name!r} points at a parent directory")


def docx_or_zip(path: Path) -> str:
    """``DOCX`` when the zip at ``path`` holds ``word/document.xml``; else refuse it."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except zipfile.BadZipFile as exc:
        raise FileRejected("corrupt_docx", f"not a readable zip archive ({exc})") from exc
    if "word/document.xml" not in names:
        raise FileRejected("type_mismatch", "a zip archive that is not a Word document")
    return DOCX


def check_zip(path: Path, max_uncompressed_bytes: int, max_xml_bytes: int | None = None) -> None:
    """Refuse a zip whose members declare more than ``max_uncompressed_bytes`` in all, or one of
    whose XML parts declares more than ``max_xml_bytes``.

    ``zipfile`` never inflates a member past its declared size (it stops and fails the CRC),
    so checking the declared sizes bounds what any reader of the archive can be made to hold.
    The XML bound is the tighter one: python-docx parses a part whole into an lxml tree (~24x
    the XML's size for dense markup) and makes a Python object per paragraph.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile as exc:
        raise FileRejected("corrupt_docx", f"not a readable zip archive ({exc})") from exc
    if len(members) > MAX_ZIP_MEMBERS:
        raise FileRejected("zip_bomb", f"{len(members)} members (limit {MAX_ZIP_MEMBERS})")
    if max_xml_bytes is not None:
        for member in members:
            if member.filename.endswith((".xml", ".rels")) and member.file_size > max_xml_bytes:
                raise FileRejected(
                    "zip_bomb",
                    f"{member.filename} inflates to {member.file_size / 1024:.0f} KiB of XML "
                    f"(limit {max_xml_bytes / 1024:.0f} KiB) from {member.compress_size / 1024:.0f} KiB",
                )
    total = sum(member.file_size for member in members)
    if total > max_uncompressed_bytes:
        biggest = max(members, key=lambda member: member.file_size)
        raise FileRejected(
            "zip_bomb",
            f"inflates to {total / _MIB:.0f} MiB (limit {max_uncompressed_bytes / _MIB:.0f} MiB); "
            f"{biggest.filename} alone is {biggest.file_size / _MIB:.0f} MiB from "
            f"{biggest.compress_size / 1024:.0f} KiB",
        )
