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
