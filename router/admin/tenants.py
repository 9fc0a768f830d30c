"""Console pages of system admins: their own sign-in, and the tenants (list, add, edit,
delete).

A system admin signs in at ``/admin/system/login`` with the credentials of the
configuration file's ``system_admins``; the session is the same kind of cookie as the tenant
console's (an opaque token, CSRF tokens derived from it), but it opens only these pages and
the system audit log (``router.admin.audit``). Every change made here is audited
(``router.audit``) under the system admin's session.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from router import people_api as people
from router.admin import forms
from router.admin.session import (
    COOKIE,
    CSRF_FIELD,
    LOGIN_COOKIE,
    SESSION,
    AdminSession,
    clear_cookie,
    csrf_for,
    csrf_ok,
    current,
    forbidden,
    new_login_nonce,
    set_cookie,
)
from router.keys import CREATED, RUNTIME
from router.oauth import system_admin
from router.pages import render_page
from router.people_models import TenantInput, TenantSettings
from router.runtime import Runtime
from router.store.directory import TenantRecord

TENANTS = "/admin/tenants"
LOGIN = "/admin/system/login"
LOGIN_TTL = 1800
HELP = {
    "id": "Lower-case letters, digits, '.', '_' or '-'. It cannot change later.",
    "time_zone": "IANA name, e.g. America/Chicago: the default of business hours.",
    "not_ready_reasons": "Comma-separated, in the order the agent desktop shows them.",
}
SystemHandler = Callable[[web.Request, AdminSession], Awaitable[web.StreamResponse]]


def _rt(request: web.Request) -> Runtime:
    return request.app[RUNTIME]


def system_page(handler: SystemHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Require a system admin's console session; on POST also its CSRF token."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        session = await current(request, ("system_admin",))
        if session is None:
            raise web.HTTPSeeOther(LOGIN)
        if request.method not in ("GET", "HEAD"):
            form = await request.post()
            if not csrf_ok(session.csrf, form.get(CSRF_FIELD)):
                return forbidden("missing or wrong CSRF token")
        request[SESSION] = session  # who the audit log records
        response = await handler(request, session)
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    return wrapped


# -- sign-in ----------------------------------------------------------------------------------


def _login_page(
    request: web.Request, nonce: str, *, error: str = "", status: int = 200
) -> web.Response:
    response = render_page(
        request,
        "admin/system_login.html",
        {
            "nav_active": "admin",
            "csrf_field": CSRF_FIELD,
            "csrf": csrf_for(request, nonce, "system-login"),
            "error": error,
            "values": {"username": ""},
        },
    )
    response.set_status(status)
    response.headers["Cache-Control"] = "no-store"
    set_cookie(request, response, LOGIN_COOKIE, nonce, LOGIN_TTL)
    return response


async def login_form(request: web.Request) -> web.StreamResponse:
    return _login_page(request, request.cookies.get(LOGIN_COOKIE) or new_login_nonce())


async def login(request: web.Request) -> web.StreamResponse:
    rt = _rt(request)
    form = await request.post()
    nonce = request.cookies.get(LOGIN_COOKIE)
    if not nonce or not csrf_ok(csrf_for(request, nonce, "system-login"), form.get(CSRF_FIELD)):
        return forbidden("missing or wrong CSRF token: reload the sign-in page")
    username, password = str(form.get("username", "")).strip(), str(form.get("password", ""))
    principal = system_admin(rt.config, username, password, "") if username and password else None
    if principal is None:
        return _login_page(request, nonce, error="Wrong username or password.", status=401)
    token = await rt.tokens.issue(principal)
    response = web.HTTPSeeOther(TENANTS)
    set_cookie(request, response, COOKIE, token, rt.tokens.ttl)
    clear_cookie(response, LOGIN_COOKIE)
    raise response


@system_page
async def logout(request: web.Request, session: AdminSession) -> web.StreamResponse:
    await _rt(request).tokens.revoke(session.token)
    response = web.HTTPSeeOther(LOGIN)
    clear_cookie(response, COOKIE)
    raise response


# -- tenants ----------------------------------------------------------------------------------


def _fields(*, new: bool) -> list[forms.FormField]:
    names = ("id", "name", "time_zone") if new else ("name", "time_zone")
    fields = forms.fields_of(TenantInput, names, help=HELP)
    return [
        *fields,
        forms.FormField(
            "not_ready_reasons", "Not-ready reasons", "text", False, HELP["not_ready_reasons"]
        ),
    ]


def _data(form: Any, fields: list[forms.FormField], base: dict[str, Any]) -> dict[str, Any]:
    data = forms.submitted(form, fields, base)
    raw = str(form.get("not_ready_reasons", ""))
    data["not_ready_reasons"] = [r.strip() for r in raw.split(",") if r.strip()]
    return data


def _form(
    request: web.Request,
    session: AdminSession,
    record: TenantRecord | None,
    values: dict[str, Any],
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    version = forms.version_of(record.model_dump(mode="json")) if record else ""
    return forms.form_page(
        request,
        session,
        "tenants",
        status=status,
        heading=f"Edit tenant {record.id}" if record else "Add tenant",
        lead="",
        action=f"{TENANTS}/{record.id}" if record else f"{TENANTS}/new",
        hidden={forms.VERSION_FIELD: version} if record else {},
        fields=_fields(new=record is None),
        values=values,
        errors=errors or {},
        editing=record is not None,
        submit="Apply" if record else "Add",
        back=TENANTS,
    )


def _values(record: TenantRecord) -> dict[str, Any]:
    return {
        "name": record.name,
        "time_zone": record.time_zone,
        "not_ready_reasons": ", ".join(record.not_ready_reasons),
    }


async def _tenant(request: web.Request) -> TenantRecord:
    record = await _rt(request).directory.records.tenant(request.match_info["tenant_id"])
    if record is None:
        raise web.HTTPNotFound(text="no such tenant")
    return record


@system_page
async def index(request: web.Request, session: AdminSession) -> web.StreamResponse:
    rt = _rt(request)
    records = await rt.directory.records.tenants()
    views = [people.tenant_view(rt, records[t]) for t in sorted(records)]
    return render_page(
        request, "admin/tenants.html", forms.context(session, "tenants", tenants=views)
    )


@system_page
async def new_form(request: web.Request, session: AdminSession) -> web.StreamResponse:
    values = {"time_zone": "UTC", "not_ready_reasons": "Break, Lunch, Meeting, Training"}
    return _form(request, session, None, values)


@system_page
async def create(request: web.Request, session: AdminSession) -> web.StreamResponse:
    rt = _rt(request)
    form = await request.post()
    fields = _fields(new=True)
    values = forms.echoed(form, fields)
    try:
        data = TenantInput.model_validate(_data(form, fields, {}))
    except ValidationError as exc:
        return _form(request, session, None, values, errors=forms.field_errors(exc), status=400)
    if await rt.directory.records.tenant(data.id) is not None:
        errors = {"id": f"tenant {data.id!r} exists"}
        return _form(request, session, None, values, errors=errors, status=409)
    await rt.directory.records.put_tenant(TenantRecord(**data.model_dump()))
    await rt.directory.changed()
    request[CREATED] = data.id
    raise web.HTTPSeeOther(TENANTS)


@system_page
async def edit_form(request: web.Request, session: AdminSession) -> web.StreamResponse:
    record = await _tenant(request)
    return _form(request, session, record, _values(record))


@system_page
async def update(request: web.Request, session: AdminSession) -> web.StreamResponse:
    rt = _rt(request)
    record = await _tenant(request)
    form = await request.post()
    fields = _fields(new=False)
    values = forms.echoed(form, fields)
    if forms.is_stale(form, record.model_dump(mode="json")):
        errors = {"": "Someone changed this tenant since you opened the form; reload it."}
        return _form(request, session, record, values, errors=errors, status=409)
    try:
        data = TenantSettings.model_validate(_data(form, fields, {}))
    except ValidationError as exc:
        return _form(request, session, record, values, errors=forms.field_errors(exc), status=400)
    await rt.directory.records.put_tenant(TenantRecord(id=record.id, **data.model_dump()))
    await rt.directory.changed()
    raise web.HTTPSeeOther(TENANTS)


def _confirm(
    request: web.Request, session: AdminSession, record: TenantRecord, error: str = ""
) -> web.Response:
    return forms.confirm_page(
        request,
        session,
        "tenants",
        error=error,
        status=409 if error else 200,
        heading="Delete tenant",
        question=f"Delete the tenant {record.id} with its queues and users? Its users can"
        " no longer sign in.",
        action=f"{TENANTS}/{record.id}/delete",
        submit="Delete",
        back=TENANTS,
    )


@system_page
async def delete_form(request: web.Request, session: AdminSession) -> web.StreamResponse:
    return _confirm(request, session, await _tenant(request))


@system_page
async def delete(request: web.Request, session: AdminSession) -> web.StreamResponse:
    record = await _tenant(request)
    refused = await people.remove_tenant(_rt(request), record.id)
    if refused is not None:
        return _confirm(request, session, record, refused)
    raise web.HTTPSeeOther(TENANTS)


PAGES = forms.Pages(index, new_form, create, edit_form, update, delete_form, delete)
