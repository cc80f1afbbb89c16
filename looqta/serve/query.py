"""What a shopper may ask: a search term for the configured sites, never a URL (pure functions)."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_URL = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


class BadQuery(ValueError):
    """A query the service refuses (answered 400 with this reason)."""


def normalised(query: str) -> str:
    """Case folded, runs of white space collapsed, trimmed: the cache's and the sharing's key."""
    return " ".join(query.casefold().split())


def checked(query: str | None, max_chars: int) -> str:
    """``query`` trimmed and collapsed, or :class:`BadQuery` saying why not."""
    if query is None or not query.strip():
        raise BadQuery("the query is empty")
    if len(query) > max_chars:
        raise BadQuery(f"the query is longer than {max_chars} characters")
    if any(unicodedata.category(char) in ("Cc", "Cf") for char in query):
        raise BadQuery("the query holds control characters")
    if _URL.match(query.strip()):
        raise BadQuery("the query is a search term, not a URL")
    return " ".join(query.split())


def query_key(query: str) -> str:
    """A short fixed-size key for the normalised ``query`` (Redis key part)."""
    return hashlib.sha256(normalised(query).encode()).hexdigest()[:32]
