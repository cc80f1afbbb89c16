"""Feed exporters: the CSV feed with its list and record columns as JSON; JSON Lines flushed per item.

Scrapy's ``CsvItemExporter`` joins a list of strings with commas and writes anything else as a
Python repr (``{'url': ..., 'reason': None}``); a consumer can parse neither reliably. Here every
list, tuple or dict value is one JSON cell; scalar columns are Scrapy's, unchanged.

Scrapy's feed file is buffered: a killed crawl loses the items still in the buffer (a few KiB)
and may end on half a line. ``FlushingJsonLinesItemExporter`` hands each line to the OS as it is
written, which ``looqta.pipelines.exported`` relies on when a job resumes.
"""

from __future__ import annotations

import json
from typing import Any

from scrapy.exporters import CsvItemExporter, JsonLinesItemExporter


class JsonColumnsCsvItemExporter(CsvItemExporter):
    """``CsvItemExporter`` whose list and record values are JSON (registered for "csv" in settings)."""

    def serialize_field(self, field: Any, name: str, value: Any) -> Any:
        if isinstance(value, (list, tuple, dict)) and "serializer" not in field:
            return json.dumps(value, ensure_ascii=False, default=str)
        return super().serialize_field(field, name, value)


class FlushingJsonLinesItemExporter(JsonLinesItemExporter):
    """``JsonLinesItemExporter`` that flushes after each item (registered for "jsonlines" and "jsonl")."""

    def export_item(self, item: Any) -> None:
        super().export_item(item)
        self.file.flush()
