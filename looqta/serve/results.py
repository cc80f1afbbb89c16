"""A search's entries as a shopper sees them: which count, when it is over, the JSON document (pure)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from looqta.serve.grouping import products

if TYPE_CHECKING:
    from looqta.serve.cache import Entry

ENDINGS = ("site-done", "site-failed")


def id_order(entry_id: str) -> tuple[int, int]:
    """A Redis stream entry id (``ms-seq``) as something that sorts like the stream."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


class Progress:
    """Per site: the entries that count (nothing after a site's first ending) and which sites ended."""

    def __init__(self, sites: tuple[str, ...]) -> None:
        self.sites = sites
        self.ended: dict[str, str] = {}

    def accept(self, event: str, site: str) -> bool:
        if site not in self.sites or site in self.ended:
            return False
        if event in ENDINGS:
            self.ended[site] = event
        return True

    @property
    def finished(self) -> bool:
        return len(self.ended) == len(self.sites)

    def missing(self) -> list[str]:
        return [site for site in self.sites if site not in self.ended]


def kept(entries: list[Entry]) -> list[Entry]:
    """``entries`` without the offers of a delivery a later ``site-started`` replaced."""
    out: list[Entry] = []
    for entry in entries:
        _, event, site, _ = entry
        if event == "site-started":
            out = [e for e in out if e[2] != site]
        out.append(entry)
    return out


def event_data(event: str, site: str, data: dict[str, Any]) -> dict[str, Any]:
    """What the SSE event carries: the site and the entry's data (not which crawler ran it)."""
    if event == "site-started":
        return {"site": site, "attempt": data.get("attempt", 0)}
    return {"site": site, **data}


def site_summary(events: list[tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """``{site: {"status": "done"|"failed", ...}}`` from ``(event, data)`` pairs."""
    sites: dict[str, dict[str, Any]] = {}
    for event, data in events:
        if event in ENDINGS:
            status = "done" if event == "site-done" else "failed"
            sites[data["site"]] = {"status": status, **{k: v for k, v in data.items() if k != "site"}}
    return sites


def document(events: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """``search.json``: the ``search`` event's data, each site's ending, every offer in order, and the
    products the ``match`` events grouped them into."""
    head = next((data for event, data in events if event == "search"), {})
    offers: list[dict[str, Any]] = []
    for event, data in events:
        if event == "site-started":
            offers = [o for o in offers if o["site"] != data["site"]]
        elif event == "offer":
            offers.append(data)
    return {"search": head, "sites": site_summary(events), "offers": offers, "products": products(events)}
