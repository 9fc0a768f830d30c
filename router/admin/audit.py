"""The admin console's audit log pages, with the filters of ``/api/v1/audit-log``, rendered on
the server: a tenant's log (its tenant admins, ``/admin/audit-log``) and the system log
(system admins, ``/admin/system/audit-log``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from router.admin.forms import context
from router.admin.session import AdminSession, admin_page, forbidden
from router.admin.tenants import system_page
from router.keys import RUNTIME
from router.pages import render_page
from router.paging import DEFAULT_LIMIT
from router.store.audit import SYSTEM_LOG, AuditEntry, AuditFilter
from router.transcripts import FilterError, parse_time

PAGE_SIZE = DEFAULT_LIMIT
AUDIT_PARAMS = ("actor", "object_type", "from", "to")
TENANT_AUDIT = "/admin/audit-log"
SYSTEM_AUDIT = "/admin/system/audit-log"
TENANT_LEAD = (
    "Every successful change made through the API or this console, newest first: who, when,"
    " from where, what, and the names of the fields sent (never their values)."
)
SYSTEM_LEAD = (
    "Every successful change made by system admins through the API or this console, and"
    " their sign-ins and sign-outs, newest first: who, when, from where, what (with the"
    " tenant it concerns), and the names of the fields sent (never their values). A change to"
    " a tenant is also in that tenant's own audit log."
)


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
    return await _page(request, session, session.principal.tenant, TENANT_AUDIT, TENANT_LEAD)


@system_page
async def system_audit_log(request: web.Request, session: AdminSession) -> web.StreamResponse:
    return await _page(request, session, SYSTEM_LOG, SYSTEM_AUDIT, SYSTEM_LEAD)


async def _page(
    request: web.Request, session: AdminSession, log: str, action: str, lead: str
) -> web.StreamResponse:
    """One page of the log ``log`` (a tenant id or ``SYSTEM_LOG``), filtered by the query."""
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
            log, query, limit=PAGE_SIZE, offset=offset
        )
    response = render_page(
        request,
        "admin/audit_log.html",
        context(session, "audit", values=values, entries=entries, error=error,
                 pager=pager(request, offset, total), action=action, lead=lead,
                 show_tenant=log == SYSTEM_LOG),
    )  # fmt: skip
    if error:
        response.set_status(400)
    return response
