"""A canary crawl's final stats, read into a report (a plain dict) and rendered as text."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from looqta.blocks import BLOCK_KINDS
from looqta.extract import STATS_PREFIX as FIELDS_PREFIX
from looqta.health.checks import evaluate, failed, summary

if TYPE_CHECKING:
    from collections.abc import Mapping

    from looqta.health.config import HealthConfig

PAGES_PREFIX = "looqta/pages"
MISSING = "missing"


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def field_table(counts: Mapping[str, int]) -> dict[str, Any]:
    """One field of one page type: ``{fallback: count, ..., "missing": n}`` -> coverage and shares."""
    total = sum(counts.values())
    served = {name: count for name, count in counts.items() if name != MISSING}
    ordered = sorted(served.items(), key=lambda pair: (-pair[1], pair[0]))
    return {
        "extracted": total,
        "coverage": _ratio(sum(served.values()), total),
        "sources": {name: _ratio(count, total) for name, count in ordered},
        "missing": _ratio(counts.get(MISSING, 0), total),
    }


def download_errors(stats: Mapping[str, Any]) -> dict[str, int]:
    """Requests that got no answer at all, by exception (``ConnectionRefusedError``: 3)."""
    prefix = "downloader/exception_type_count/"
    return {
        key[len(prefix) :].rsplit(".", 1)[-1]: int(v) for key, v in stats.items() if key.startswith(prefix)
    }


def page_types(stats: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Pages, results (cards or pages extracted) and per-field fallbacks, by page type."""
    fields: dict[str, dict[str, dict[str, int]]] = {}
    counters: dict[str, dict[str, int]] = {}
    for key, value in stats.items():
        if key.startswith(FIELDS_PREFIX + "/"):
            parts = key[len(FIELDS_PREFIX) + 1 :].split("/", 2)
            if len(parts) == 3:  # <page type>/<field>/<fallback or missing>
                page_type, name, source = parts
                fields.setdefault(page_type, {}).setdefault(name, {})[source] = int(value)
            elif len(parts) == 2:  # <page type>/<counter>, e.g. search/no_offer
                counters.setdefault(parts[0], {})[parts[1]] = int(value)
    pages: dict[str, dict[str, int]] = {}
    for key, value in stats.items():
        if key.startswith(PAGES_PREFIX + "/") and key.count("/") == 3:
            _, _, page_type, outcome = key.split("/")
            pages.setdefault(page_type, {})[outcome] = int(value)
    report: dict[str, dict[str, Any]] = {}
    for page_type in sorted(set(fields) | set(pages) | set(counters)):
        tables = {name: field_table(counts) for name, counts in sorted(fields.get(page_type, {}).items())}
        seen = pages.get(page_type, {})
        report[page_type] = {
            "pages": sum(seen.values()),
            "pages_ok": seen.get("ok", 0),
            "pages_unparsed": seen.get("unparsed", 0),
            "results": max((table["extracted"] for table in tables.values()), default=0),
            "counters": counters.get(page_type, {}),
            "fields": tables,
        }
    return report


def blocks(stats: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "total": stats.get("looqta/blocks/total", 0),
        "passed": stats.get("looqta/blocks/passed", 0),
        "gave_up": stats.get("looqta/blocks/gave_up", 0),
        "kinds": {
            kind: stats[f"looqta/blocks/{kind}"] for kind in BLOCK_KINDS if stats.get(f"looqta/blocks/{kind}")
        },
    }


def build(stats: Mapping[str, Any], config: HealthConfig, **about: Any) -> dict[str, Any]:
    """The whole report; ``about`` (site, base URL, query...) is copied in as it is."""
    checks = evaluate(stats, config)
    dropped = {
        key.rsplit("/", 1)[1]: value
        for key, value in stats.items()
        if key.startswith("looqta/validate/dropped/")
    }
    return {
        **about,
        "finish_reason": stats.get("finish_reason"),
        "items": stats.get("item_scraped_count", 0),
        "dropped": {"total": stats.get("looqta/validate/dropped", 0), "reasons": dropped},
        "page_types": page_types(stats),
        "blocks": blocks(stats),
        "robots_forbidden": stats.get("robotstxt/forbidden", 0),
        "download_errors": download_errors(stats),
        "health": {
            "ok": not failed(checks),
            "summary": summary(checks),
            "checks": [
                {
                    "name": check.name,
                    "ok": check.ok,
                    "skipped": check.skipped,
                    "value": check.value,
                    "limit": list(check.limit) if isinstance(check.limit, tuple) else check.limit,
                    "message": check.message,
                }
                for check in checks
            ],
        },
    }


def _percent(share: float) -> str:
    return f"{share * 100:.1f}%"


def render(report: Mapping[str, Any]) -> str:
    """The report as text: one block per page type, then blocks, robots and health."""
    product_pages = ", with product pages" if report["details"] else ""
    dropped = report["dropped"]
    lines = [
        f"looqta check: {report['site']} at {report['base_url']} "
        f"(q={report['q']!r}, {report['pages']} search page(s){product_pages})",
        f"finish reason: {report['finish_reason']}; {report['items']} items scraped, "
        f"{dropped['total']} dropped by validation"
        + "".join(f", {reason} {count}" for reason, count in dropped["reasons"].items()),
    ]
    if not report["page_types"]:
        lines += ["", "no page was read"]
    for name, page in report["page_types"].items():
        counters = "".join(f", {key} {value}" for key, value in page["counters"].items())
        lines += [
            "",
            f"{name}: {page['pages']} pages ({page['pages_ok']} ok, {page['pages_unparsed']} unparsed), "
            f"{page['results']} results{counters}",
            f"  {'field':<14} {'coverage':>8}  served by",
        ]
        for field, table in page["fields"].items():
            served = [f"{source} {_percent(share)}" for source, share in table["sources"].items()]
            if table["missing"]:
                served.append(f"{MISSING} {_percent(table['missing'])}")
            lines.append(f"  {field:<14} {_percent(table['coverage']):>8}  {', '.join(served)}")
    block = report["blocks"]
    kinds = ", ".join(f"{kind} {count}" for kind, count in block["kinds"].items())
    gave_up = f" ({kinds}), gave up on {block['gave_up']} request(s)" if block["total"] else ""
    lines += [
        "",
        f"block pages: {block['total']} of {block['total'] + block['passed']} answers{gave_up}",
        f"robots.txt refusals: {report['robots_forbidden']}",
        "download errors: "
        + (", ".join(f"{name} {count}" for name, count in report["download_errors"].items()) or "0"),
        report["health"]["summary"],
    ]
    for check in report["health"]["checks"]:
        mark = "skip" if check["skipped"] else "ok  " if check["ok"] else "FAIL"
        lines.append(f"  {mark} {check['message']}")
    return "\n".join(lines)
