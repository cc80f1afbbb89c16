"""How the service writes what it answers: SSE events and JSON, as bytes (one encoder for both)."""

from __future__ import annotations

import json
from typing import Any

from fastapi.sse import format_sse_event


def json_bytes(value: Any) -> bytes:
    """Compact UTF-8 JSON, as FastAPI answers a JSON route."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def sse_event(event: str, data: Any, entry_id: str | None = None) -> bytes:
    return format_sse_event(event=event, data_str=json_bytes(data).decode(), id=entry_id or None)


def sse_comment(text: str) -> bytes:
    return format_sse_event(comment=text)


def search_head(search_id: str, query: str, state: str) -> dict[str, Any]:
    """The ``search`` event's data."""
    return {"id": search_id, "query": query, "cache": state}
