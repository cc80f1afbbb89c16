"""Turn an item into the document the store keeps, or say why it cannot be kept.

Pure functions: no client, no Scrapy; the pipeline calls :func:`to_document`
and counts :class:`RejectedItem` reasons as ``looqta/store/rejected/<reason>``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import bson
from bson.decimal128 import Decimal128

if TYPE_CHECKING:
    from itemadapter import ItemAdapter

    from looqta.records import FileResults

#: Fields copied into the product document, with the store's name for each.
STRING_FIELDS: tuple[str, ...] = ("source", "source_id", "title", "currency", "url")
OPTIONAL_STRING_FIELDS: tuple[str, ...] = ("job",)
#: Identifiers a spider may give (issue 21; the matcher reads them): kept only when present, so a
#: sighting without them leaves the stored ones alone.
IDENTIFIER_FIELDS: tuple[str, ...] = ("brand", "gtin", "model")
LIST_OF_STRING_FIELDS: tuple[str, ...] = ("image_urls", "file_urls")
_WORD = re.compile(r"[^\W_]+")


class RejectedItem(ValueError):
    """The item cannot be stored; ``reason`` is short and stat-friendly."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class ProductDocument:
    """One validated offer, ready for the store; ``fields`` holds BSON-ready values."""

    source: str
    source_id: str
    fields: dict[str, Any]

    @property
    def key(self) -> tuple[str, str]:
        return self.source, self.source_id

    def to_bson(self) -> bytes:
        return bson.encode(self.fields)


@dataclass(frozen=True)
class FileSet:
    """An item's checked file records, to set on its stored product (see ``repository.set_files``)."""

    source: str
    source_id: str
    files: list[dict[str, Any]]
    seen_at: datetime | None

    @property
    def key(self) -> tuple[str, str]:
        return self.source, self.source_id

    def to_bson(self) -> bytes:
        fields = {"source": self.source, "source_id": self.source_id, "files": self.files}
        return bson.encode({_OPERATION: "files", **fields, "seen_at": self.seen_at})


#: What the store writer queues and spools: products first, then their files.
Operation = ProductDocument | FileSet
#: Marks a spooled :class:`FileSet` (a product document never has this field).
_OPERATION = "_looqta_op"


def decode_operation(data: bytes) -> Operation:
    """A spooled operation back from its BSON (``to_bson`` of either kind)."""
    fields = bson.decode(data, codec_options=bson.CodecOptions(tz_aware=True, tzinfo=UTC))
    if fields.pop(_OPERATION, None) == "files":
        return FileSet(fields["source"], fields["source_id"], fields["files"], fields.get("seen_at"))
    return ProductDocument(source=fields["source"], source_id=fields["source_id"], fields=fields)


def file_set(results: FileResults, max_field_bytes: int) -> FileSet:
    """The file pool's results, checked as the store keeps them; raises :class:`RejectedItem`."""
    files = file_records(results.records, max_field_bytes)
    seen_at = None if results.seen_at is None else _timestamp(results.seen_at, None)
    return FileSet(results.source, results.source_id, files, seen_at)


def title_words(title: str) -> list[str]:
    """The searchable words of a title: case-folded letters and digits, in order, once each."""
    return list(dict.fromkeys(_WORD.findall(title.casefold())))


def to_document(
    adapter: ItemAdapter, *, max_field_bytes: int, max_document_bytes: int, now: datetime | None = None
) -> ProductDocument:
    """Validate ``adapter`` and build its :class:`ProductDocument`; raises :class:`RejectedItem`."""
    fields: dict[str, Any] = {}
    for name in STRING_FIELDS:
        fields[name] = _string(adapter.get(name), name, max_field_bytes, required=True)
    for name in OPTIONAL_STRING_FIELDS:
        fields[name] = _string(adapter.get(name), name, max_field_bytes, required=False)
    for name in IDENTIFIER_FIELDS:
        if (value := _string(adapter.get(name), name, max_field_bytes, required=False)) is not None:
            fields[name] = value
    fields["title_words"] = title_words(fields["title"])
    fields["price"] = _decimal(adapter.get("price"), "price", required=True)
    fields["rating"] = _decimal(adapter.get("rating"), "rating", required=False)
    fields["review_count"] = _count(adapter.get("review_count"))
    for name in LIST_OF_STRING_FIELDS:
        fields[name] = _string_list(adapter.get(name), name, max_field_bytes)
    if adapter.get("files"):  # else the upsert leaves the stored records alone (set later)
        fields["files"] = file_records(adapter.get("files"), max_field_bytes)
    fields["seen_at"] = _timestamp(adapter.get("scraped_at"), now)
    document = ProductDocument(fields["source"], fields["source_id"], fields)
    size = len(document.to_bson())
    if size > max_document_bytes:
        raise RejectedItem("oversize_document", f"{size} bytes > {max_document_bytes}")
    return document


def _string(value: Any, name: str, max_bytes: int, *, required: bool) -> str | None:
    if value is None or value == "":
        if required:
            raise RejectedItem(f"missing_{name}", f"{name} is empty")
        return None
    if not isinstance(value, str):
        raise RejectedItem(f"bad_type_{name}", f"{name} is a {type(value).__name__}, not a string")
    size = len(value.encode("utf-8", errors="surrogatepass"))
    if size > max_bytes:
        raise RejectedItem(f"oversize_{name}", f"{name} is {size} bytes > {max_bytes}")
    if "\x00" in value:
        raise RejectedItem(f"bad_value_{name}", f"{name} holds a NUL character")
    return value


def _decimal(value: Any, name: str, *, required: bool) -> Decimal128 | None:
    if value is None:
        if required:
            raise RejectedItem(f"missing_{name}", f"{name} is empty")
        return None
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise RejectedItem(f"bad_type_{name}", f"{name} is a {type(value).__name__}, not a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise RejectedItem(f"nonfinite_{name}", f"{name} is {value}")
    try:
        number = Decimal(str(value)) if isinstance(value, float | str) else Decimal(value)
    except InvalidOperation:
        raise RejectedItem(f"bad_type_{name}", f"{name} {value!r} is not a number") from None
    if not number.is_finite():
        raise RejectedItem(f"nonfinite_{name}", f"{name} is {number}")
    if number < 0:
        raise RejectedItem(f"negative_{name}", f"{name} is {number}")
    try:
        return Decimal128(number)
    except (InvalidOperation, ValueError):
        raise RejectedItem(f"bad_value_{name}", f"{name} {number} does not fit a Decimal128") from None


def _count(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RejectedItem("bad_type_review_count", f"review_count is a {type(value).__name__}, not an int")
    if not 0 <= value < 2**63:
        raise RejectedItem("bad_value_review_count", f"review_count is {value}")
    return value


def _string_list(value: Any, name: str, max_bytes: int) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise RejectedItem(f"bad_type_{name}", f"{name} is a {type(value).__name__}, not a list")
    return [_string(entry, name, max_bytes, required=True) or "" for entry in value]


def file_records(value: Any, max_bytes: int) -> list[dict[str, Any]]:
    """The item's file records as the store keeps them: plain values, bounded in size, or a rejection."""
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(entry, dict) for entry in value):
        raise RejectedItem("bad_type_files", "files is not a list of dicts")
    return [_plain(entry, "files", max_bytes) for entry in value]


def _plain(value: Any, where: str, max_bytes: int) -> Any:
    """Check a JSON-like value (a file record) for what BSON or MongoDB would refuse."""
    if isinstance(value, str):
        return _string(value, "files", max_bytes, required=False) or ""
    if value is None or isinstance(value, bool | int):
        if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
            raise RejectedItem("bad_value_files", f"{where} is {value}")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise RejectedItem("bad_value_files", f"{where} is {value}")
        return value
    if isinstance(value, list | tuple):
        return [_plain(entry, f"{where}[{index}]", max_bytes) for index, entry in enumerate(value)]
    if isinstance(value, dict):
        record: dict[str, Any] = {}
        for key, entry in value.items():
            if not isinstance(key, str) or not key or key.startswith("$") or "." in key or "\x00" in key:
                raise RejectedItem("bad_value_files", f"{where} holds the key {key!r}")
            record[key] = _plain(entry, f"{where}.{key}", max_bytes)
        return record
    raise RejectedItem("bad_type_files", f"{where} is a {type(value).__name__}")


def _timestamp(value: Any, now: datetime | None) -> datetime:
    if value is None or value == "":
        moment = now or datetime.now(UTC)
    elif isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise RejectedItem("bad_value_scraped_at", f"scraped_at {value!r} is not ISO 8601") from None
    else:
        raise RejectedItem("bad_type_scraped_at", f"scraped_at is a {type(value).__name__}")
    if moment.tzinfo is None:
        raise RejectedItem("bad_value_scraped_at", f"scraped_at {value!r} has no time zone")
    moment = moment.astimezone(UTC)
    # BSON dates hold milliseconds: truncate here so a spooled copy compares equal to the original.
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
