"""The admin console's audit log page (tenant admins): the same filters as
``/api/v1/audit-log``, rendered on the server."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from router.admin.forms import context
from router.admin.session import AdminSession, admin_page, forbidden
from router.keys import RUNTIME
from router.pages import render_page
from router.paging import DEFAULT_LIMIT
from router.store.audit import AuditEntry, AuditFilter
from router.transcripts import FilterError, parse_time

PAGE_SIZE = DEFAULT_LIMIT
AUDIT_PARAMS = ("actor", "object_type", "from", "to")


def page_offset(request: web.Request) -> int:
    raw = request.query.get("offset", "0")
    return max(0, int(raw)) if raw.isdigit() else 0


def pager(request: web.Request, offset: int, total: int) -> dict[str, Any]:
    """Links to the previous / next page, keeping the filters."""

    def link(to: int) -> str:
        return str(request.rel_url.update_query(offset=str(to)))

    return {
        "first": offset + 1 if total else 0,
        "last": min(offset + PAGE_SIZE, total),
        "total": total,
        "previous": link(max(0, offset - PAGE_SIZE)) if offset > 0 else None,
        "next": link(offset + PAGE_SIZE) if offset + PAGE_SIZE < total else None,
    }


@admin_page
async def audit_log(request: web.Request, session: AdminSession) -> web.StreamResponse:
    if not session.is_tenant_admin:
        return forbidden("only tenant admins read the audit log")
    values = {name: request.query.get(name, "").strip() for name in AUDIT_PARAMS}
    offset, error, total = page_offset(request), "", 0
    entries: tuple[AuditEntry, ...] = ()
    try:
        query = AuditFilter(
            actor=values["actor"] or None,
            object_type=values["object_type"] or None,
            since=parse_time(values["from"], "from") if values["from"] else None,
            until=parse_time(values["to"], "to") if values["to"] else None,
        )
    except FilterError as exc:
        error = str(exc)
    else:
        entries, total = await request.app[RUNTIME].store.audit.read(
            session.principal.tenant, query, limit=PAGE_SIZE, offset=offset
        )
    response = render_page(
        request,
        "admin/audit_log.html",
        context(session, "audit", values=values, entries=entries, error=error,
                 pager=pager(request, offset, total)),
    )  # fmt: skip
    if error:
        response.set_status(400)
    return response
