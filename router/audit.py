"""The audit log: every successful change made through ``/api/v1`` or the admin console.

``record`` (an aiohttp middleware) writes one entry per successful (status below 400)
POST, PUT, PATCH or DELETE on ``/api/v1/*`` and ``/admin/*``: when, tenant, who (subject,
role, name), from where, method, path, object type and id (from the matched route), the
names of the fields the body carried (never their values), and the status. Failed requests
are not recorded: they changed nothing. The remote address is the peer's, or, when
``Settings.trusted_proxy`` says a reverse proxy stands in front, the last address of
``X-Forwarded-For`` (the one that proxy appended). ``audit_log`` serves the log.

Where an entry goes (``_record``): a tenant user's change to their tenant's log. A system
admin's change goes to the system log (``SYSTEM_LOG``: also their sign-ins and sign-outs),
and, when it concerns a tenant that still exists after it (the route's ``{tenant_id}``, or
the tenant a ``system:{tenant}`` token acts on), to that tenant's log too, so its tenant
admins see who changed it. A handler that creates an object without answering it as JSON
(a console form) names it in ``request[CREATED]``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from redis.exceptions import RedisError

from router.admin.session import COOKIE, CSRF_FIELD, SESSION
from router.api import PRINCIPAL, principal_of
from router.auth import Principal
from router.errors import StoreError
from router.http_errors import error_response
from router.keys import CREATED, RUNTIME
from router.models import Frozen
from router.openapi import QueryParam
from router.paging import page_of
from router.store.audit import SYSTEM_LOG, AuditActor, AuditEntry, AuditFilter
from router.transcripts import FilterError, parse_time

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Form fields that are plumbing, not changes.
IGNORED_FIELDS = frozenset({CSRF_FIELD})
MAX_FIELDS = 100
MAX_DEPTH = 3
QUERY = (
    QueryParam("actor", "Subject (agent or API client id) or name of who made the change"),
    QueryParam("object_type", "What was changed, e.g. integration-accounts, numbers"),
    QueryParam("from", "At or after (ISO 8601)"),
    QueryParam("to", "At or before (ISO 8601)"),
)


class AuditPage(Frozen):
    items: tuple[AuditEntry, ...]
    total: int
    limit: int
    offset: int


def _audited(path: str) -> bool:
    return path.startswith(("/api/v1/", "/admin/")) or path == "/admin"


@web.middleware
async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method not in MUTATING or not _audited(request.path):
        return await handler(request)
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # the console answers its forms with raised redirects
        if exc.status < 400:
            await _record(request, exc)
        raise
    if response.status < 400:
        await _record(request, response)
    return response


async def _record(request: web.Request, response: web.StreamResponse) -> None:
    principal = await _principal(request, response)
    if principal is None:
        return
    object_type, object_id = _object(request, response)
    tenant = await _tenant_of(request, principal)
    entry = AuditEntry(
        at=datetime.now(UTC),
        tenant=tenant,
        actor=AuditActor(subject=principal.subject, role=principal.role, name=principal.name),
        remote=remote_address(request),
        method=request.method,
        path=request.path,
        object_type=object_type,
        object_id=object_id,
        fields=await changed_fields(request),
        status=response.status,
        source="api" if request.path.startswith("/api/") else "admin",
    )
    # A system admin's change: the system log, and the tenant's log when it concerns one.
    logs = (SYSTEM_LOG, tenant) if principal.role == "system_admin" else (tenant,)
    for name in dict.fromkeys(logs):
        try:
            await request.app[RUNTIME].store.audit.append(entry, name)
        except StoreError as exc:
            log.warning("audit entry for %s %s not stored: %s", entry.method, entry.path, exc)


async def _tenant_of(request: web.Request, principal: Principal) -> str:
    """The tenant the change concerns: the principal's; for a system admin the route's
    ``{tenant_id}`` or the tenant their token acts on, if it exists after the change (a
    deleted tenant's entry stays in the system log), else none (``""``)."""
    if principal.role != "system_admin":
        return principal.tenant
    tenant = request.match_info.get("tenant_id") or principal.tenant
    if not tenant:
        return ""
    try:
        exists = await request.app[RUNTIME].directory.records.tenant(tenant) is not None
    except RedisError:
        return tenant  # the store is down: writing the entry fails (and says so) anyway
    return tenant if exists else ""


async def _principal(request: web.Request, response: web.StreamResponse) -> Principal | None:
    if PRINCIPAL in request:
        return request[PRINCIPAL]
    if SESSION in request:
        return request[SESSION].principal
    cookie = response.cookies.get(COOKIE)  # a console sign-in: the session it just opened
    if cookie is not None and cookie.value:
        return await request.app[RUNTIME].tokens.resolve(cookie.value)
    return None


def remote_address(request: web.Request) -> str | None:
    if request.app[RUNTIME].settings.trusted_proxy:
        forwarded = request.headers.get("X-Forwarded-For", "")
        hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()]
        if hops:
            return hops[-1]
    return request.remote


def _object(request: web.Request, response: web.StreamResponse) -> tuple[str, str | None]:
    """(object type, object id): the route's static segments before its first parameter,
    and its parameters (or, for a create, the ``id`` of the JSON answer)."""
    resource = request.match_info.route.resource
    canonical = resource.canonical if resource is not None else request.path
    rest = canonical.removeprefix("/api/v1/").removeprefix("/admin").strip("/")
    static = []
    for segment in rest.split("/"):
        if segment.startswith("{"):
            break
        static.append(segment)
    object_type = "/".join(static) or "admin"
    params = [str(value) for value in request.match_info.values()]
    if params:
        return object_type, "/".join(params)
    return object_type, request.get(CREATED) or _created_id(response)


def _created_id(response: web.StreamResponse) -> str | None:
    if not isinstance(response, web.Response) or response.content_type != "application/json":
        return None
    body = response.body
    if not isinstance(body, bytes | bytearray) or len(body) > 1024**2:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return str(value) if isinstance(value, str | int) else None


def _names(value: Any, prefix: str, depth: int, out: list[str]) -> None:
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict) and item and depth < MAX_DEPTH:
            _names(item, name + ".", depth + 1, out)
        else:
            out.append(name)


async def changed_fields(request: web.Request) -> tuple[str, ...]:
    """The names of the fields of the request body (JSON: dotted paths into nested objects;
    forms: field names); never a value."""
    names: list[str] = []
    try:
        if request.content_type == "application/json":
            data = json.loads(await request.read() or b"null")
            if isinstance(data, dict):
                _names(data, "", 1, names)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            names = [str(key) for key in await request.post()]
    except (ValueError, web.HTTPException):
        return ()
    unique = dict.fromkeys(name for name in names if name not in IGNORED_FIELDS)
    return tuple(unique)[:MAX_FIELDS]


async def audit_log(request: web.Request) -> web.Response:
    """The token's tenant's log; a system admin's ``scope=system`` token (no tenant) reads the
    system log."""
    rt = request.app[RUNTIME]
    who = principal_of(request)
    page = page_of(request)
    if isinstance(page, web.Response):
        return page
    try:
        since = parse_time(request.query["from"], "from") if request.query.get("from") else None
        until = parse_time(request.query["to"], "to") if request.query.get("to") else None
    except FilterError as exc:
        return error_response(400, "invalid", str(exc), exc.field)
    query = AuditFilter(
        actor=request.query.get("actor") or None,
        object_type=request.query.get("object_type") or None,
        since=since,
        until=until,
    )
    log_name = who.tenant or SYSTEM_LOG
    items, total = await rt.store.audit.read(log_name, query, limit=page.limit, offset=page.offset)
    body = AuditPage(items=items, total=total, limit=page.limit, offset=page.offset)
    return web.json_response(body.model_dump(mode="json"))
