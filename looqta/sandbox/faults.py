"""Run-time faults and the request log of one sandbox site.

``FaultConfig`` is the validated fault request, ``FaultState`` holds it with the countdown of
``times``, ``RequestLog`` is a bounded log, and ``fault_middleware`` applies them to every request
outside ``/__sandbox__/``. The control routes live here too (``add_control_routes``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import random
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from looqta.sandbox import hostile
from looqta.sandbox.blocks import (
    BLOCK_KINDS,
    CHALLENGE,
    CHALLENGE_COOKIE,
    DEFAULT_STATUS,
    Challenge,
    block_page,
)

if TYPE_CHECKING:
    from aiohttp.typedefs import Handler

logger = logging.getLogger(__name__)

CONTROL_PREFIX = "/__sandbox__/"
REQUEST_LOG_MAXLEN = 100_000
TRUNCATE_SHARE = 0.4
TRUNCATE_MODES = ("dataloss", "short")
MALFORMED_KEY = "looqta_malformed"


@dataclass(frozen=True)
class FaultConfig:
    """One fault set-up. ``times`` counts only the requests answered with ``status``.

    ``truncate_mode``: ``dataloss`` declares the full Content-Length, sends ~40 % of the body and
    closes the connection (a cut transfer); ``short`` sends a complete, consistent response whose
    body is the first ~40 % (a silently truncated document).

    ``max_in_flight``: a site's rate limit by concurrency (a WAF or a rate-limiting proxy): at
    most that many matching requests are answered at once; one that arrives while that many are
    (``latency_ms`` included) is answered 429 at once, with ``retry_after`` when it is set.
    """

    latency_ms: int = 0
    max_in_flight: int | None = None
    status: int | None = None
    retry_after: str | int | None = None
    times: int | None = None
    path_prefix: str = "/"
    truncate: bool = False
    truncate_mode: str = "dataloss"
    malformed: bool = False
    #: Share of matching requests answered with each block page kind (``BLOCK_KINDS``).
    blocks: dict[str, float] = dataclasses.field(default_factory=dict)
    #: Status per kind, where it differs from the real site's (``blocks.DEFAULT_STATUS``).
    block_status: dict[str, int] = dataclasses.field(default_factory=dict)
    #: Share of matching requests without a valid challenge cookie that get the JavaScript challenge.
    challenge: float = 0.0
    #: How long a passed challenge's cookie is honoured; 0: one request only.
    challenge_ttl_seconds: float = 300.0
    #: Seed of the draws that pick blocked requests (reproducible shares).
    block_seed: int = 0
    #: URLs put in matching HTML pages where a crawler fetches from (looqta.sandbox.hostile).
    hostile_urls: list[str] = dataclasses.field(default_factory=list)

    @classmethod
    def from_json(cls, data: Any) -> FaultConfig:
        """Validate a decoded JSON body; raise ``ValueError`` with the reason."""
        if not isinstance(data, dict):
            raise ValueError("fault body must be a JSON object")
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault fields: {unknown}")
        config = cls(**data)
        config._validate()
        return config

    def _validate(self) -> None:
        if not _is_int(self.latency_ms) or self.latency_ms < 0:
            raise ValueError("latency_ms must be an int >= 0")
        if self.status is not None and (not _is_int(self.status) or not 100 <= self.status <= 599):
            raise ValueError("status must be null or an HTTP status code")
        if self.retry_after is not None and not (
            _is_int(self.retry_after) or isinstance(self.retry_after, str)
        ):
            raise ValueError("retry_after must be null, seconds (int) or a string")
        if self.max_in_flight is not None and (not _is_int(self.max_in_flight) or self.max_in_flight < 1):
            raise ValueError("max_in_flight must be null or an int >= 1")
        if self.times is not None and (not _is_int(self.times) or self.times < 0):
            raise ValueError("times must be null or an int >= 0")
        if not isinstance(self.path_prefix, str) or not self.path_prefix.startswith("/"):
            raise ValueError("path_prefix must be a string starting with '/'")
        if not isinstance(self.truncate, bool) or not isinstance(self.malformed, bool):
            raise ValueError("truncate and malformed must be booleans")
        if self.truncate_mode not in TRUNCATE_MODES:
            raise ValueError(f"truncate_mode must be one of {TRUNCATE_MODES}")
        self._validate_blocks()
        hostile.check_urls(self.hostile_urls)

    def _validate_blocks(self) -> None:
        if not isinstance(self.blocks, dict) or set(self.blocks) - set(BLOCK_KINDS):
            raise ValueError(f"blocks must map kinds of {BLOCK_KINDS} to shares")
        if not all(_is_share(v) for v in self.blocks.values()) or sum(self.blocks.values()) > 1:
            raise ValueError("block shares must be numbers in 0..1 that sum to at most 1")
        kinds = (*BLOCK_KINDS, CHALLENGE)
        if not isinstance(self.block_status, dict) or set(self.block_status) - set(kinds):
            raise ValueError(f"block_status must map kinds of {kinds} to statuses")
        if not all(_is_int(v) and 200 <= v <= 599 for v in self.block_status.values()):
            raise ValueError("block_status values must be HTTP statuses 200..599")
        if not _is_share(self.challenge):
            raise ValueError("challenge must be a share in 0..1")
        ttl = self.challenge_ttl_seconds
        if not isinstance(ttl, (int, float)) or isinstance(ttl, bool) or not math.isfinite(ttl) or ttl < 0:
            raise ValueError("challenge_ttl_seconds must be a number >= 0")
        if not _is_int(self.block_seed):
            raise ValueError("block_seed must be an int")

    def status_of(self, kind: str) -> int:
        return self.block_status.get(kind, DEFAULT_STATUS[kind])


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_share(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1


class FaultState:
    def __init__(self) -> None:
        self.config = FaultConfig()
        self._remaining: int | None = None
        self.in_flight = 0  #: matching requests being answered now
        self.rate_limited = 0  #: answered 429 by ``max_in_flight`` since the last ``set``
        self.blocked: dict[str, int] = {}  #: block pages served per kind since the last ``set``
        self.challenge = Challenge()
        self._draws = random.Random(0)

    def set(self, config: FaultConfig) -> None:
        self.config = config
        self._remaining = config.times
        self.rate_limited = 0
        self.blocked = {}
        self._draws = random.Random(config.block_seed)

    def take_block(self, challenge_cookie: str | None) -> str | None:
        """The block kind (or ``challenge``) to answer one matching request with, if any."""
        config = self.config
        if (
            config.challenge
            and not self.challenge.passes(challenge_cookie, config.challenge_ttl_seconds, time.time())
            and self._draws.random() < config.challenge
        ):
            return self._count(CHALLENGE)
        if config.blocks:
            draw, edge = self._draws.random(), 0.0
            for kind in BLOCK_KINDS:
                edge += config.blocks.get(kind, 0.0)
                if draw < edge:
                    return self._count(kind)
        return None

    def _count(self, kind: str) -> str:
        self.blocked[kind] = self.blocked.get(kind, 0) + 1
        return kind

    def reset(self) -> None:
        self.set(FaultConfig())

    def matches(self, path: str) -> bool:
        return path.startswith(self.config.path_prefix)

    def take_status(self) -> int | None:
        """The fault status for one matching request, counting down ``times``."""
        if self.config.status is None:
            return None
        if self._remaining is not None:
            if self._remaining <= 0:
                return None
            self._remaining -= 1
        return self.config.status

    def as_dict(self) -> dict[str, Any]:
        return {
            **dataclasses.asdict(self.config),
            "remaining": self._remaining,
            "rate_limited": self.rate_limited,
            "blocked": dict(self.blocked),
        }


class RequestLog:
    def __init__(self, maxlen: int = REQUEST_LOG_MAXLEN) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=maxlen)

    def record(self, request: web.BaseRequest, status: int) -> None:
        self._entries.append(
            {
                "t": time.time(),
                "method": request.method,
                "path_qs": request.raw_path,
                "status": status,
                "user_agent": request.headers.get("User-Agent", ""),
            }
        )

    def entries(self) -> list[dict[str, Any]]:
        return list(self._entries)

    def clear(self) -> None:
        self._entries.clear()


FAULTS_KEY = web.AppKey("looqta_faults", FaultState)
SITE_NAME_KEY = web.AppKey("looqta_site_name", str)
REQUEST_LOG_KEY = web.AppKey("looqta_request_log", RequestLog)


def is_malformed(request: web.Request) -> bool:
    """Whether the page renderers should garble their price markup for this request."""
    return bool(request.get(MALFORMED_KEY, False))


@web.middleware
async def fault_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith(CONTROL_PREFIX):
        return await handler(request)
    status = 500
    try:
        response = await _faulted(request, handler)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        request.app[REQUEST_LOG_KEY].record(request, status)


async def _faulted(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[FAULTS_KEY]
    if state.config.hostile_urls and (moved := hostile.redirect(request.path, state.config.hostile_urls)):
        return moved
    if not state.matches(request.path):
        return await handler(request)
    config = state.config
    if config.max_in_flight is not None:
        if state.in_flight >= config.max_in_flight:
            state.rate_limited += 1
            return _status_response(429, config.retry_after)
        state.in_flight += 1
        try:
            return await _answer(request, handler, state)
        finally:
            state.in_flight -= 1
    return await _answer(request, handler, state)


async def _answer(request: web.Request, handler: Handler, state: FaultState) -> web.StreamResponse:
    config = state.config
    if config.latency_ms:
        await asyncio.sleep(config.latency_ms / 1000)
    fault_status = state.take_status()
    if fault_status is not None:
        return _status_response(fault_status, config.retry_after)
    kind = state.take_block(request.cookies.get(CHALLENGE_COOKIE))
    if kind is not None:
        return _block_response(request, kind, state)
    request[MALFORMED_KEY] = config.malformed
    response = await handler(request)
    if config.hostile_urls and isinstance(response, web.Response) and response.content_type == "text/html":
        response.text = hostile.inject(response.text or "", config.hostile_urls, request.path)
    if config.truncate:
        return await _truncated(request, response, config.truncate_mode)
    return response


def _status_response(status: int, retry_after: str | int | None) -> web.Response:
    headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
    body = f"<html><body><h1>Sandbox fault: HTTP {status}</h1></body></html>"
    return web.Response(status=status, text=body, content_type="text/html", headers=headers)


def _block_response(request: web.Request, kind: str, state: FaultState) -> web.Response:
    if kind == CHALLENGE:
        text = state.challenge.page(request.app[SITE_NAME_KEY], state.config.challenge_ttl_seconds)
    else:
        text = block_page(request.app[SITE_NAME_KEY], kind, request.host, request.path_qs)
    status = state.config.status_of(kind)
    return web.Response(
        status=status, text=text, content_type="text/html", headers={"Cache-Control": "no-store"}
    )


async def _truncated(request: web.Request, response: web.StreamResponse, mode: str) -> web.StreamResponse:
    if not isinstance(response, web.Response) or not isinstance(response.body, bytes):
        logger.debug("not truncating streamed response for %s", request.path)
        return response
    body = response.body
    cut = body[: int(len(body) * TRUNCATE_SHARE)]
    if mode == "short":
        response.body = cut
        return response
    stream = web.StreamResponse(status=response.status, reason=response.reason)
    stream.headers.extend((k, v) for k, v in response.headers.items() if k != "Content-Length")
    stream.content_length = len(body)
    stream.force_close()
    await stream.prepare(request)
    await stream.write(cut)
    return stream


async def _get_faults(request: web.Request) -> web.Response:
    return web.json_response(request.app[FAULTS_KEY].as_dict())


async def _post_faults(request: web.Request) -> web.Response:
    try:
        config = FaultConfig.from_json(await request.json())
    except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
        return web.json_response({"error": str(exc)}, status=400)
    state = request.app[FAULTS_KEY]
    state.set(config)
    logger.info("faults set: %s", config)
    return web.json_response(state.as_dict())


async def _delete_faults(request: web.Request) -> web.Response:
    state = request.app[FAULTS_KEY]
    state.reset()
    return web.json_response(state.as_dict())


async def _get_requests(request: web.Request) -> web.Response:
    return web.json_response(request.app[REQUEST_LOG_KEY].entries())


async def _delete_requests(request: web.Request) -> web.Response:
    request.app[REQUEST_LOG_KEY].clear()
    return web.json_response([])


def add_control_routes(app: web.Application, site: str) -> None:
    """Attach fault state, request log and their ``/__sandbox__/`` routes to ``app`` (of ``site``)."""
    app[SITE_NAME_KEY] = site
    app[FAULTS_KEY] = FaultState()
    app[REQUEST_LOG_KEY] = RequestLog()
    app.router.add_get("/__sandbox__/faults", _get_faults)
    app.router.add_post("/__sandbox__/faults", _post_faults)
    app.router.add_delete("/__sandbox__/faults", _delete_faults)
    app.router.add_get("/__sandbox__/requests", _get_requests)
    app.router.add_delete("/__sandbox__/requests", _delete_requests)
