"""The admin console's session transcripts (supervisors and tenant admins): a search with the
same filters as ``/api/v1/sessions``, and one session's transcript."""

from __future__ import annotations

from aiohttp import web

from router.admin.audit import page_offset, pager
from router.admin.forms import context
from router.admin.session import AdminSession, admin_page
from router.keys import RUNTIME
from router.pages import render_page
from router.paging import DEFAULT_LIMIT
from router.transcripts import (
    FILTER_PARAMS,
    FilterError,
    SessionSummary,
    session_filter,
    transcript_of,
)

PAGE_SIZE = DEFAULT_LIMIT


@admin_page
async def transcripts(request: web.Request, session: AdminSession) -> web.StreamResponse:
    values = {name: request.query.get(name, "").strip() for name in FILTER_PARAMS}
    offset, error, truncated = page_offset(request), "", False
    rows: tuple[SessionSummary, ...] = ()
    total = 0
    try:
        query = session_filter(request.query)
    except FilterError as exc:
        error = str(exc)
    else:
        sessions, total, truncated = await request.app[RUNTIME].store.search_sessions(
            session.principal.tenant, query, limit=PAGE_SIZE, offset=offset
        )
        rows = tuple(SessionSummary.of(s) for s in sessions)
    response = render_page(
        request,
        "admin/transcripts.html",
        context(session, "transcripts", values=values, rows=rows, error=error,
                 truncated=truncated, pager=pager(request, offset, total)),
    )  # fmt: skip
    if error:
        response.set_status(400)
    return response


@admin_page
async def transcript(request: web.Request, session: AdminSession) -> web.StreamResponse:
    found = await request.app[RUNTIME].store.load_session(
        session.principal.tenant, request.match_info["session_id"]
    )
    if found is None:
        raise web.HTTPNotFound(text="no such session")
    return render_page(
        request,
        "admin/transcript.html",
        context(session, "transcripts", transcript=transcript_of(found), summary=found),
    )
