"""The system admins' console: their own sign-in and the tenants pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from queues.memory import InMemoryBroker
from router.app import create_app
from router.config import Config
from router.keys import RUNTIME
from router.runtime import Runtime
from router.settings import Settings
from router.store import RedisStore
from router.store.audit import SYSTEM_LOG, AuditEntry, AuditFilter
from router.store.memory import MemoryRedis
from tests.admin.conftest import _tenant
from tests.admin.console import Client, Console, csrf_of, error_of

ROOT_PASSWORD = "root-password-123"


@pytest.fixture
async def client(aiohttp_client: Callable[[web.Application], Awaitable[Client]]) -> Client:
    settings = Settings(tick_seconds=0.02, partitions=2)
    store = RedisStore(MemoryRedis())
    data: dict[str, Any] = {
        "tenants": [_tenant("acme")],
        "system_admins": [{"username": "ops", "password": ROOT_PASSWORD}],
    }
    app = create_app(settings, Config.parse(data), store=store, broker=InMemoryBroker())
    return await aiohttp_client(app)


async def system_login(client: Client, password: str = ROOT_PASSWORD) -> Console:
    form = await client.get("/admin/system/login")
    resp = await client.post(
        "/admin/system/login",
        data={"csrf_token": csrf_of(await form.text()), "username": "ops", "password": password},
        allow_redirects=False,
    )
    assert resp.status == (303 if password == ROOT_PASSWORD else 401), await resp.text()
    console = Console(client)
    if resp.status == 303:
        console.csrf = csrf_of(await console.page("/admin/tenants"))
    return console


async def test_system_admin_signs_in_and_manages_tenants(client: Client) -> None:
    runtime: Runtime = client.app[RUNTIME]
    await system_login(client, "wrong password")
    ops = await system_login(client)
    listing = await ops.page("/admin/tenants")
    assert 'data-testid="tenant-acme"' in listing
    # The console bar is the system admins': their one page and their own sign-out.
    assert 'data-testid="nav-tenants"' in listing
    assert 'action="/admin/system/logout"' in listing
    assert 'data-testid="nav-agents"' not in listing

    await ops.form("/admin/tenants/new")
    resp = await ops.post(
        "/admin/tenants/new", {"id": "initech", "name": "Initech", "time_zone": "Mars/Base"}
    )
    assert resp.status == 400
    assert "unknown time zone" in error_of(await resp.text(), "time_zone")
    resp = await ops.post(
        "/admin/tenants/new",
        {"id": "initech", "name": "Initech", "time_zone": "Europe/Paris",
         "not_ready_reasons": "Away, Lunch"},
    )  # fmt: skip
    assert resp.status == 303, await resp.text()
    initech = runtime.config.tenant("initech")
    assert initech is not None
    assert (initech.time_zone, initech.not_ready_reasons) == ("Europe/Paris", ("Away", "Lunch"))

    resp = await ops.edit("/admin/tenants/initech", {"name": "Initrode", "time_zone": "UTC"})
    assert resp.status == 303
    assert 'data-testid="tenant-initech-name">Initrode<' in await ops.page("/admin/tenants")

    resp = await ops.post("/admin/tenants/initech/delete", {}, csrf=False)
    assert resp.status == 403
    assert runtime.config.tenant("initech") is not None
    await ops.form("/admin/tenants/initech/delete")
    resp = await ops.post("/admin/tenants/initech/delete", {})
    assert resp.status == 303
    assert runtime.config.tenant("initech") is None


async def test_tenant_console_users_cannot_open_the_tenants_pages(client: Client) -> None:
    root = await Console(client).login("root")
    resp = await client.get("/admin/tenants", allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (303, "/admin/system/login")
    await root.page("/admin")  # their own console still works


async def _entries(runtime: Runtime, log: str) -> tuple[AuditEntry, ...]:
    """The whole audit log ``log`` (a tenant id or the system log), newest first."""
    items, total = await runtime.store.audit.read(log, AuditFilter(), limit=100, offset=0)
    assert len(items) == total
    return items


async def test_system_admin_changes_are_audited(client: Client) -> None:
    """Sign-in, adding, editing and deleting tenants, and sign-out by a system admin are in
    the system log with the system admin as actor; the edit of acme is in acme's log too."""
    runtime: Runtime = client.app[RUNTIME]
    await system_login(client, "wrong password")  # refused: not recorded
    ops = await system_login(client)
    await ops.form("/admin/tenants/new")
    resp = await ops.post("/admin/tenants/new", {"id": "initech", "time_zone": "Mars/Base"})
    assert resp.status == 400  # refused: not recorded
    resp = await ops.post(
        "/admin/tenants/new", {"id": "initech", "name": "Initech", "time_zone": "UTC"}
    )
    assert resp.status == 303, await resp.text()
    resp = await ops.edit(
        "/admin/tenants/acme",
        {"name": "Acme Corp", "time_zone": "Europe/Paris", "not_ready_reasons": "Lunch"},
    )
    assert resp.status == 303, await resp.text()
    await ops.form("/admin/tenants/initech/delete")
    resp = await ops.post("/admin/tenants/initech/delete", {})
    assert resp.status == 303
    resp = await ops.post("/admin/system/logout", {})
    assert resp.status == 303

    logout, deleted, edited, created, login = await _entries(runtime, SYSTEM_LOG)
    for entry in (logout, deleted, edited, created, login):
        assert (entry.actor.subject, entry.actor.role) == ("ops", "system_admin")
        assert (entry.source, entry.remote) == ("admin", "127.0.0.1")
        assert "csrf_token" not in entry.fields
    assert (login.path, login.object_type, login.status) == ("/admin/system/login", "system/login",
                                                             303)  # fmt: skip
    assert "password" in login.fields
    assert (created.method, created.path) == ("POST", "/admin/tenants/new")
    assert (created.object_type, created.object_id) == ("tenants/new", "initech")
    assert created.tenant == ""
    assert set(created.fields) == {"id", "name", "time_zone"}
    assert (edited.path, edited.object_id, edited.tenant) == ("/admin/tenants/acme", "acme",
                                                              "acme")  # fmt: skip
    assert {"name", "time_zone", "not_ready_reasons"} <= set(edited.fields)
    assert (deleted.object_type, deleted.object_id) == ("tenants", "initech")
    assert deleted.tenant == ""  # the tenant is gone: its deletion stays in the system log
    assert (logout.path, logout.object_type) == ("/admin/system/logout", "system/logout")
    # The change to acme is part of acme's own trail; nothing went to initech's.
    (in_acme,) = await _entries(runtime, "acme")
    assert in_acme.model_dump(exclude={"id"}) == edited.model_dump(exclude={"id"})
    assert await _entries(runtime, "initech") == ()
    raw = "".join(e.model_dump_json() for e in await _entries(runtime, SYSTEM_LOG))
    assert ROOT_PASSWORD not in raw
    assert "Acme Corp" not in raw  # field names, never values

    # acme's tenant admins see who changed their tenant in their console.
    root = await Console(client).login("root")
    page = await root.page("/admin/audit-log")
    assert f'data-testid="audit-{in_acme.id}"' in page
    assert "(ops, system admin)" in page
    assert "/admin/tenants/acme" in page
    assert "/admin/system/login" not in page
    # The system log is for system admins only.
    resp = await client.get("/admin/system/audit-log", allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (303, "/admin/system/login")


async def test_system_admins_read_the_system_log_in_the_console(client: Client) -> None:
    runtime: Runtime = client.app[RUNTIME]
    ops = await system_login(client)
    await ops.edit("/admin/tenants/acme", {"name": "Acme Corp", "time_zone": "UTC"})
    listing = await ops.page("/admin/tenants")
    assert 'href="/admin/system/audit-log"' in listing
    page = await ops.page("/admin/system/audit-log")
    edited, login = await _entries(runtime, SYSTEM_LOG)
    assert f'data-testid="audit-{edited.id}-tenant">acme<' in page
    assert f'data-testid="audit-{login.id}"' in page
    assert "/admin/system/login" in page
    page = await ops.page("/admin/system/audit-log?object_type=tenants")
    assert f'data-testid="audit-{edited.id}"' in page
    assert f'data-testid="audit-{login.id}"' not in page
    resp = await client.get("/admin/system/audit-log", params={"from": "soon"})
    assert resp.status == 400
