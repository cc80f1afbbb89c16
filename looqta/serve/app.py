"""The FastAPI application: routes only; the work is in coordinator, sse and results."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from fastapi.sse import EventSourceResponse
from starlette.middleware.trustedhost import TrustedHostMiddleware

from looqta.redisstore.client import connect
from looqta.serve import crawlers, grouping, page, products
from looqta.serve.coordinator import Opened, Overloaded, SearchCoordinator
from looqta.serve.encoded import json_bytes
from looqta.serve.query import BadQuery, checked
from looqta.serve.refresh import Refresher
from looqta.serve.results import document
from looqta.serve.sse import events, stream

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from looqta.serve.config import ServeConfig

#: The ``Host`` names a loopback-only service answers to (a rebound DNS name gets 400).
LOOPBACK_HOSTS = ["127.0.0.1", "localhost"]
SSE_TYPE, JSON_TYPE = EventSourceResponse.media_type, "application/json"
#: As FastAPI's own SSE responses: no caching, no buffering by a proxy.
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def opened_search(request: Request) -> tuple[Opened, str | None]:
    """The search ``?q=`` asks for (400, 429 as ``HTTPException``) and the ``Last-Event-ID`` to resume
    after. Read from the request directly, not through FastAPI's dependency and parameter models: on
    a cache hit that machinery cost more than the rest of the answer (docs/BENCHMARKS.md)."""
    config: ServeConfig = request.app.state.config
    try:
        query = checked(request.query_params.get("q"), config.max_query_chars)
    except BadQuery as exc:
        raise HTTPException(400, str(exc)) from exc
    coordinator: SearchCoordinator = request.app.state.coordinator
    last_event_id = request.headers.get("last-event-id")
    after = last_event_id if last_event_id and _is_entry_id(last_event_id) else None
    if after is None:  # a shopper's ask (a reconnect is not another), for the background refresh
        await request.app.state.refresher.asked(query)
    try:
        resumed = await coordinator.resume(query) if after else None
        return (resumed or await coordinator.open(query)), (after if resumed else None)
    except Overloaded as exc:
        retry = str(config.retry_after_seconds)
        raise HTTPException(429, f"too many searches: {exc}", headers={"Retry-After": retry}) from exc


def _is_entry_id(value: str) -> bool:
    ms, _, seq = value.partition("-")
    return ms.isdigit() and seq.isdigit() and len(value) < 40


def create_app(config: ServeConfig, *, allow_remote: bool = False) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = await connect(config.redis)
        app.state.redis = client
        app.state.coordinator = SearchCoordinator(config, client)
        app.state.refresher = Refresher(config, client, app.state.coordinator)
        app.state.refresher.start()
        try:
            yield
        finally:
            await app.state.refresher.stop()
            await app.state.coordinator.close()
            await client.aclose()

    app = FastAPI(title="looqta search", lifespan=lifespan, docs_url=None, redoc_url=None)
    if not allow_remote:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=LOOPBACK_HOSTS)
    app.state.config = config
    app.include_router(products.router)

    @app.get("/api/search")
    async def search(request: Request) -> Response:
        found, after = await opened_search(request)
        if found.answer is not None and after is None:  # a cache hit read from its start: ready bytes
            return Response(found.answer.sse(found.state), headers=SSE_HEADERS, media_type=SSE_TYPE)
        body = stream(request.app.state.redis, found, config, after=after)
        return StreamingResponse(body, headers=SSE_HEADERS, media_type=SSE_TYPE)

    @app.get("/api/search.json")
    async def search_json(request: Request) -> Response:
        found = (await opened_search(request))[0]
        if found.answer is not None:
            return Response(found.answer.search_json(found.state), media_type=JSON_TYPE)
        collected = [
            (event[0], event[2])
            async for event in grouping.with_matches(events(request.app.state.redis, found, config))
            if event
        ]
        return Response(json_bytes(document(collected)), media_type=JSON_TYPE)

    @app.get("/", response_class=HTMLResponse)
    async def index() -> HTMLResponse:
        return HTMLResponse(page.HTML, headers=page.HEADERS)

    @app.get("/healthz")
    async def healthz(request: Request) -> dict[str, Any]:
        await request.app.state.redis.ping()
        alive = crawlers.counts(await crawlers.alive(request.app.state.redis, config.sites))
        refresh = await request.app.state.refresher.status()
        summary = {name: refresh[name] for name in ("enabled", "refresher", "last_round")}
        return {"ok": True, "sites": list(config.sites), "crawlers": alive, "refresh": summary}

    # The warm crawlers' live snapshots (looqta/search/presence.py) and the background refresh.
    @app.get("/api/crawlers")
    async def live_crawlers(request: Request) -> dict[str, Any]:
        return {"sites": await crawlers.alive(request.app.state.redis, config.sites)}

    @app.get("/api/refresh")
    async def refresh_status(request: Request) -> dict[str, Any]:
        return await request.app.state.refresher.status()

    return app
