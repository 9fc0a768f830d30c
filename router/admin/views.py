"""Admin console pages: login / logout and the live queue dashboard.

Everything is rendered on the server (jinja2) and works without JavaScript; ``admin.js``
only refreshes the dashboard table from ``/admin/queues.json``. Every page is scoped to the
signed-in user's tenant. Secrets are never rendered, only whether each one is set.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from router.admin.forms import context
from router.admin.session import (
    CONSOLE_ROLES,
    COOKIE,
    CSRF_FIELD,
    LOGIN_COOKIE,
    AdminSession,
    admin_page,
    clear_cookie,
    csrf_for,
    csrf_ok,
    current,
    forbidden,
    login_redirect,
    new_login_nonce,
    set_cookie,
)
from router.keys import RUNTIME
from router.models import QueueStats
from router.pages import render_page

LOGIN_TTL = 1800
STAT_FIELDS = (
    ("queue_length", "Queue length"),
    ("longest_waiting_seconds", "Longest wait (s)"),
    ("logged_on_agents", "Logged on"),
    ("ready_idle_agents", "Ready (idle)"),
    ("not_ready_agents", "Not ready"),
    ("working_agents", "Working"),
    ("active_agents", "Active"),
)


# -- login / logout --------------------------------------------------------------------------


def _login_page(
    request: web.Request, nonce: str, *, error: str = "", status: int = 200, values: Any = None
) -> web.Response:
    response = render_page(
        request,
        "admin/login.html",
        {
            "nav_active": "admin",
            "csrf_field": CSRF_FIELD,
            "csrf": csrf_for(request, nonce, "login"),
            "error": error,
            "values": values or {"tenant": "", "username": ""},
        },
    )
    response.set_status(status)
    response.headers["Cache-Control"] = "no-store"
    set_cookie(request, response, LOGIN_COOKIE, nonce, LOGIN_TTL)
    return response


async def login_form(request: web.Request) -> web.StreamResponse:
    if await current(request) is not None:
        raise web.HTTPSeeOther("/admin")
    return _login_page(request, request.cookies.get(LOGIN_COOKIE) or new_login_nonce())


async def login(request: web.Request) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    form = await request.post()
    nonce = request.cookies.get(LOGIN_COOKIE)
    if not nonce or not csrf_ok(csrf_for(request, nonce, "login"), form.get(CSRF_FIELD)):
        return forbidden("missing or wrong CSRF token: reload the login page")
    tenant, username = str(form.get("tenant", "")).strip(), str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    values = {"tenant": tenant, "username": username}
    principal = None
    if tenant and username and password:
        principal = await rt.tokens.check_password(tenant, username, password, kind="agent")
    if principal is None:
        return _login_page(
            request, nonce, error="Wrong tenant, username or password.", status=401, values=values
        )
    if principal.role not in CONSOLE_ROLES:
        return _login_page(
            request,
            nonce,
            error="Only tenant admins and supervisors can sign in to the admin console.",
            status=403,
            values=values,
        )
    tenant_cfg = rt.config.tenant(tenant)
    agent_cfg = tenant_cfg.agent(principal.subject) if tenant_cfg else None
    principal = principal.model_copy(update={"name": agent_cfg.name if agent_cfg else ""})
    token = await rt.tokens.issue(principal)
    response = web.HTTPSeeOther("/admin")
    set_cookie(request, response, COOKIE, token, rt.tokens.ttl)
    clear_cookie(response, LOGIN_COOKIE)
    raise response


@admin_page
async def logout(request: web.Request, session: AdminSession) -> web.StreamResponse:
    await request.app[RUNTIME].tokens.revoke(session.token)
    response = login_redirect()
    clear_cookie(response, COOKIE)
    raise response


# -- dashboard -------------------------------------------------------------------------------


async def _queue_stats(request: web.Request, tenant_id: str) -> list[tuple[str, QueueStats]]:
    rt = request.app[RUNTIME]
    tenant = rt.config.tenant(tenant_id)
    if tenant is None:
        return []
    return [
        (queue.name or queue.id, await rt.store.queue_stats(tenant_id, queue.id))
        for queue in tenant.queues
    ]


@admin_page
async def dashboard(request: web.Request, session: AdminSession) -> web.StreamResponse:
    queues = await _queue_stats(request, session.principal.tenant)
    return render_page(
        request,
        "admin/dashboard.html",
        context(session, "dashboard", queues=queues, fields=STAT_FIELDS),
    )


@admin_page
async def queues_json(request: web.Request, session: AdminSession) -> web.StreamResponse:
    queues = await _queue_stats(request, session.principal.tenant)
    return web.json_response(
        {
            "tenant": session.principal.tenant,
            "queues": [{"name": name, **s.model_dump(mode="json")} for name, s in queues],
        }
    )
