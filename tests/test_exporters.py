"""The CSV feed: list and record columns are JSON, scalar columns as Scrapy writes them."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

from scrapy.utils.misc import load_object
from scrapy.utils.project import get_project_settings

from looqta.exporters import JsonColumnsCsvItemExporter
from looqta.items import ProductItem


def export(*items: ProductItem) -> list[dict[str, str]]:
    buffer = io.BytesIO()
    exporter = JsonColumnsCsvItemExporter(buffer, encoding="utf-8")
    exporter.start_exporting()
    for item in items:
        exporter.export_item(item)
    exporter.finish_exporting()
    return list(csv.DictReader(io.StringIO(buffer.getvalue().decode("utf-8"))))


def test_list_and_record_columns_are_json() -> None:
    files = [
        {"url": "http://h/a.png", "path": "full/a.png", "checksum": "ab", "reason": None},
        {"url": "http://h/b.pdf", "reason": '404, "not found"'},
    ]
    item = ProductItem(
        source="noon",
        source_id="N1",
        title="Apple iPhone 15, 128GB «Black»",
        price=Decimal("2899.00"),
        image_urls=["http://h/a.png", "http://h/a,2.png"],
        files=files,
    )
    (row,) = export(item)
    assert json.loads(row["image_urls"]) == ["http://h/a.png", "http://h/a,2.png"]  # a comma survives
    assert json.loads(row["files"]) == files  # None is null, not 'None'
    assert json.loads(row["file_urls"]) == []
    assert row["title"] == "Apple iPhone 15, 128GB «Black»"  # scalars as Scrapy writes them
    assert row["price"] == "2899.00"
    assert row["rating"] == ""


def test_the_project_registers_it_for_csv_feeds() -> None:
    exporters = get_project_settings().getwithbase("FEED_EXPORTERS")
    assert load_object(exporters["csv"]) is JsonColumnsCsvItemExporter
