"""The search contract (looqta/search/contract.py): keys, the job message and stream entries."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from looqta.items import ProductItem
from looqta.search import contract
from looqta.search.contract import ContractError, SearchJob, StreamEntry


def test_each_site_has_a_manual_and_a_bulk_queue_and_each_search_a_stream() -> None:
    assert contract.queue_key("amazon", "manual") == "looqta:search:amazon:manual"
    assert contract.queue_key("amazon", "bulk") == "looqta:search:amazon:bulk"
    assert contract.processing_key("noon", "c1") == "looqta:search:noon:processing:c1"
    assert contract.lease_key("noon", "c1") == "looqta:search:noon:lease:c1"
    assert contract.stream_key("abc") == "looqta:search:abc:stream"
    with pytest.raises(ContractError, match="job kind"):
        contract.queue_key("amazon", "urgent")


def test_a_job_round_trips_through_its_json() -> None:
    job = SearchJob.new("iphone 15", "amazon", kind="bulk", max_pages=2, details=True)
    raw = job.encode()
    assert json.loads(raw) == {
        "search_id": job.search_id,
        "query": "iphone 15",
        "site": "amazon",
        "kind": "bulk",
        "max_pages": 2,
        "details": True,
        "submitted_at": job.submitted_at,
        "attempt": 0,
    }
    assert SearchJob.decode(raw) == job
    assert SearchJob.decode(raw.encode()) == job
    assert SearchJob.decode(raw).redelivered().attempt == 1


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not json", "not a search job"),
        ('{"query": "x", "site": "amazon"}', "not a search job"),
        ('{"search_id": "1", "query": " ", "site": "amazon"}', "needs a search id, a query and a site"),
        ('{"search_id": "1", "query": "x", "site": "amazon", "kind": "urgent"}', "job kind"),
        ('{"search_id": "1", "query": "x", "site": "amazon", "max_pages": 0}', "max_pages"),
    ],
)
def test_a_bad_job_is_refused_with_the_reason(raw: str, message: str) -> None:
    with pytest.raises(ContractError, match=message):
        SearchJob.decode(raw)


def test_an_offer_entry_carries_the_item_with_exact_prices() -> None:
    item = ProductItem(source="amazon", source_id="B0TEST0001", title="Phone", price=Decimal("3799.00"))
    entry = contract.offer("amazon", item)
    fields = entry.fields()
    assert fields["event"] == "offer"
    assert fields["site"] == "amazon"
    data = json.loads(fields["data"])
    assert data["price"] == "3799.00"
    assert data["source_id"] == "B0TEST0001"
    assert StreamEntry.from_fields({k.encode(): v.encode() for k, v in fields.items()}) == StreamEntry(
        "offer", "amazon", data
    )


def test_site_done_and_site_failed_entries() -> None:
    assert contract.site_done("noon", 12, 3.14159).data == {"count": 12, "seconds": 3.142}
    assert contract.site_failed("noon", "blocked", "3 requests failed").data == {
        "reason": "blocked",
        "detail": "3 requests failed",
    }
    with pytest.raises(ContractError, match="failure reason"):
        contract.site_failed("noon", "tired")
    with pytest.raises(ContractError, match="unknown stream event"):
        StreamEntry.from_fields({"event": "done", "site": "noon", "data": "{}"})


def test_a_reader_keeps_a_sites_offers_from_its_last_start() -> None:
    entries = [
        contract.site_started("amazon", 0, "c1"),
        StreamEntry("offer", "amazon", {"source_id": "A"}),
        StreamEntry("offer", "noon", {"source_id": "N"}),
        contract.site_started("amazon", 1, "c2"),  # c1 died; the job was delivered again
        StreamEntry("offer", "amazon", {"source_id": "A"}),
        StreamEntry("offer", "amazon", {"source_id": "B"}),
        contract.site_done("amazon", 2, 1.0),
    ]
    offers, end = contract.site_results(entries, "amazon")
    assert [o["source_id"] for o in offers] == ["A", "B"]
    assert end == contract.site_done("amazon", 2, 1.0)
    assert contract.site_results(entries, "noon") == ([{"source_id": "N"}], None)


def test_one_search_is_a_job_per_site_sharing_its_id_and_stream() -> None:
    jobs = contract.jobs_for("iphone", ("amazon", "noon"), kind="manual", max_pages=1)
    assert [job.site for job in jobs] == ["amazon", "noon"]
    assert len({job.search_id for job in jobs}) == 1
    assert len({contract.stream_key(job.search_id) for job in jobs}) == 1
