"""The REST API (``/api/v1``). Every route is tenant-scoped by its bearer token: another
tenant's objects answer 404 exactly like missing ones."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from router.auth import Principal, bearer
from router.http_errors import error_response
from router.keys import RUNTIME
from router.paging import page_of
from router.transcripts import (
    FilterError,
    SessionPage,
    SessionSummary,
    session_filter,
    transcript_of,
    transcript_text,
)

PRINCIPAL = web.RequestKey("principal", Principal)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/api/v1/") or request.path == "/api/v1/openapi.json":
        return await handler(request)
    principal = await request.app[RUNTIME].tokens.resolve(bearer(request))
    if principal is None:
        return error_response(401, "unauthorized", "a valid bearer token is required")
    request[PRINCIPAL] = principal
    return await handler(request)


def principal_of(request: web.Request) -> Principal:
    return request[PRINCIPAL]


async def queue_status(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    who = principal_of(request)
    queue = request.match_info["queue"]
    tenant = rt.config.tenant(who.tenant)
    if tenant is None or tenant.queue(queue) is None:
        return error_response(404, "not_found", f"no queue {queue!r}", "queue")
    stats = await rt.store.queue_stats(who.tenant, queue)
    return web.json_response(stats.model_dump(mode="json"))


async def get_session(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    who = principal_of(request)
    if who.role == "agent":
        return error_response(403, "forbidden", "agents read sessions over the agent socket")
    session = await rt.store.load_session(who.tenant, request.match_info["session_id"])
    if session is None:
        return error_response(404, "not_found", "no such session", "session_id")
    return web.json_response(session.model_dump(mode="json"))


async def list_sessions(request: web.Request) -> web.Response:
    """Search the tenant's sessions; see ``router.store.transcripts`` for the bounds."""
    rt = request.app[RUNTIME]
    who = principal_of(request)
    page = page_of(request)
    if isinstance(page, web.Response):
        return page
    try:
        query = session_filter(request.query)
    except FilterError as exc:
        return error_response(400, "invalid", str(exc), exc.field)
    sessions, total, truncated = await rt.store.search_sessions(
        who.tenant, query, limit=page.limit, offset=page.offset
    )
    body = SessionPage(
        items=tuple(SessionSummary.of(s) for s in sessions),
        total=total,
        limit=page.limit,
        offset=page.offset,
        truncated=truncated,
    )
    return web.json_response(body.model_dump(mode="json"))


async def session_transcript(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    who = principal_of(request)
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "text"):
        return error_response(400, "invalid", "format: json or text", "format")
    session = await rt.store.load_session(who.tenant, request.match_info["session_id"])
    if session is None:
        return error_response(404, "not_found", "no such session", "session_id")
    transcript = transcript_of(session)
    if fmt == "text":
        return web.Response(text=transcript_text(transcript), content_type="text/plain")
    return web.json_response(transcript.model_dump(mode="json"))
