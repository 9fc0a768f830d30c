"""The audit log through the real app: API and admin-console changes recorded with who, from
where, what and the names of the fields (never their values), failures not recorded,
``/api/v1/audit-log`` and the console page."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from router.settings import Settings
from tests.bots.modes_fixtures import watson
from tests.router.conftest import PASSWORD, agent, api_token, auth_headers, tenant
from tests.router.test_admin_console import engine, signed_in  # noqa: F401 - a fixture

Client = TestClient[Any, Any]
SECRET = "watson-secret-key"
NEW_SECRET = "another-watson-secret"
OPS_PASSWORD = "ops-password-123"


@pytest.fixture
def config_data() -> dict[str, Any]:
    def with_admin(tid: str) -> dict[str, Any]:
        agents = [
            agent("ann"),
            agent("sue", role="supervisor"),
            agent("root", role="tenant_admin", name=f"Root of {tid}", queues=[]),
            agent("boss", role="tenant_admin", name="The Boss", queues=[]),
        ]
        return tenant(tid, agents=agents)

    return {
        "tenants": [with_admin("acme"), with_admin("globex")],
        "system_admins": [{"username": "ops", "password": OPS_PASSWORD, "name": "Operations"}],
    }


async def _log(client: Client, tenant_id: str = "acme", **query: str) -> dict[str, Any]:
    headers = await auth_headers(client, tenant_id, "root")
    resp = await client.get("/api/v1/audit-log", params=query, headers=headers)
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def test_api_changes_are_recorded_with_field_names_only(client: Client) -> None:
    headers = await auth_headers(client, "acme", "root")
    resp = await client.post("/api/v1/bot-accounts", json=watson("wb"), headers=headers)
    assert resp.status == 201, await resp.text()
    patch = {"api_key": NEW_SECRET, "name": "Renamed"}
    resp = await client.patch("/api/v1/bot-accounts/wb", json=patch, headers=headers)
    assert resp.status == 200, await resp.text()
    # Failed requests change nothing and are not recorded.
    resp = await client.patch("/api/v1/bot-accounts/wb", json={"max_api_calls_per_day": -5},
                              headers=headers)  # fmt: skip
    assert resp.status == 400
    resp = await client.delete("/api/v1/bot-accounts/missing", headers=headers)
    assert resp.status == 404

    resp = await client.get("/api/v1/audit-log", headers=headers)
    raw = await resp.text()
    assert SECRET not in raw
    assert NEW_SECRET not in raw
    body = await resp.json()
    assert body["total"] == 2
    assert (body["limit"], body["offset"]) == (50, 0)
    changed, created = body["items"]  # newest first
    assert created["method"] == "POST"
    assert created["path"] == "/api/v1/bot-accounts"
    assert (created["object_type"], created["object_id"]) == ("bot-accounts", "wb")
    assert created["status"] == 201
    assert set(created["fields"]) == set(watson("wb"))
    assert (created["actor"]["subject"], created["actor"]["role"]) == ("root", "tenant_admin")
    assert created["tenant"] == "acme"
    assert created["source"] == "api"
    assert created["remote"] == "127.0.0.1"
    assert (changed["method"], changed["object_id"], changed["status"]) == ("PATCH", "wb", 200)
    assert changed["fields"] == ["api_key", "name"]
    assert changed["at"] >= created["at"]


async def test_filters_roles_and_tenants(client: Client) -> None:
    root = await auth_headers(client, "acme", "root")
    boss = await auth_headers(client, "acme", "boss")
    crm = {"Authorization": f"Bearer {await api_token(client, 'acme')}"}
    await client.post("/api/v1/bot-accounts", json=watson("a1"), headers=root)
    await client.post("/api/v1/bot-accounts", json=watson("a2"), headers=boss)
    resp = await client.delete("/api/v1/bot-accounts/a1", headers=boss)
    assert resp.status == 204
    body = await _log(client)
    assert body["total"] == 3
    assert [e["actor"]["subject"] for e in body["items"]] == ["boss", "boss", "root"]
    assert [e["object_id"] for e in (await _log(client, actor="boss"))["items"]] == ["a1", "a2"]
    assert (await _log(client, actor="The Boss"))["total"] == 2
    assert (await _log(client, object_type="bot-accounts"))["total"] == 3
    assert (await _log(client, object_type="numbers"))["total"] == 0
    page = await _log(client, limit="1", offset="1")
    assert (page["total"], [e["object_id"] for e in page["items"]]) == (3, ["a2"])
    assert (await _log(client, **{"from": "2999-01-01"}))["total"] == 0
    assert (await _log(client, to="2000-01-01T00:00:00Z"))["total"] == 0
    assert (await _log(client, **{"from": "2000-01-01"}))["total"] == 3
    assert (await _log(client, "globex"))["total"] == 0
    for user in ("ann", "sue"):
        resp = await client.get(
            "/api/v1/audit-log", headers=await auth_headers(client, "acme", user)
        )
        assert resp.status == 403
    resp = await client.get("/api/v1/audit-log", headers=crm)
    assert resp.status == 403
    resp = await client.get("/api/v1/audit-log?from=soon", headers=root)
    assert (resp.status, (await resp.json())["error"]["field"]) == (400, "from")


@pytest.mark.usefixtures("engine")  # the bot account's Test Connection reaches a fake
async def test_console_changes_are_recorded_from_the_cookie_session(client: Client) -> None:
    headers = await auth_headers(client, "acme", "root")
    resp = await client.post("/api/v1/bot-accounts", json=watson("wb"), headers=headers)
    assert resp.status == 201
    csrf = await signed_in(client)  # a sign-in is a change too
    resp = await client.post("/admin/bot-accounts/wb/test-connection", data={"csrf_token": csrf})
    assert resp.status == 200
    resp = await client.post("/admin/bot-accounts/wb/test-connection", data={"csrf_token": "x"})
    assert resp.status == 403  # refused: not recorded
    resp = await client.post("/admin/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert resp.status == 303

    raw = await (await client.get("/api/v1/audit-log", headers=headers)).text()
    assert PASSWORD not in raw
    assert csrf not in raw
    body = await _log(client)
    logout, tested, login, _created = body["items"]
    assert body["total"] == 4
    for entry in (logout, tested, login):
        assert entry["source"] == "admin"
        assert entry["actor"] == {"subject": "root", "role": "tenant_admin",
                                  "name": "Root of acme"}  # fmt: skip
        assert entry["remote"] == "127.0.0.1"
    assert (login["path"], login["status"], login["object_type"]) == ("/admin/login", 303, "login")
    assert "password" in login["fields"]
    assert "csrf_token" not in login["fields"]
    assert (tested["object_type"], tested["object_id"]) == ("bot-accounts", "wb")
    assert tested["path"] == "/admin/bot-accounts/wb/test-connection"
    assert tested["fields"] == []
    assert (logout["path"], logout["status"]) == ("/admin/logout", 303)


async def test_console_audit_page(client: Client) -> None:
    headers = await auth_headers(client, "acme", "root")
    await client.post("/api/v1/bot-accounts", json=watson("wb"), headers=headers)
    await signed_in(client)
    html = await (await client.get("/admin")).text()
    assert 'href="/admin/audit-log"' in html
    resp = await client.get("/admin/audit-log", params={"object_type": "bot-accounts"})
    html = await resp.text()
    assert resp.status == 200
    assert "/api/v1/bot-accounts" in html
    assert "api_key" in html
    assert SECRET not in html
    html = await (await client.get("/admin/audit-log", params={"actor": "nobody"})).text()
    assert "No matching changes." in html
    resp = await client.get("/admin/audit-log", params={"to": "later"})
    assert resp.status == 400
    await signed_in(client, "sue")
    html = await (await client.get("/admin")).text()
    assert 'href="/admin/audit-log"' not in html
    assert (await client.get("/admin/audit-log")).status == 403


async def _system_headers(client: Client, scope: str) -> dict[str, str]:
    resp = await client.post(
        "/oauth/token",
        data={"grant_type": "password", "username": "ops", "password": OPS_PASSWORD,
              "scope": scope},
    )  # fmt: skip
    assert resp.status == 200, await resp.text()
    return {"Authorization": f"Bearer {(await resp.json())['access_token']}"}


async def test_system_admin_api_changes_go_to_the_system_log_and_the_tenant_changed(
    client: Client,
) -> None:
    system = await _system_headers(client, "system")
    as_acme = await _system_headers(client, "system:acme")
    resp = await client.post("/api/v1/tenants", json={"id": "initech"}, headers=system)
    assert resp.status == 201, await resp.text()
    resp = await client.patch("/api/v1/tenants/acme", json={"name": "Acme"}, headers=system)
    assert resp.status == 200, await resp.text()
    resp = await client.post("/api/v1/bot-accounts", json=watson("wb"), headers=as_acme)
    assert resp.status == 201, await resp.text()

    # A system-wide token reads the system log: every change of the system admins.
    resp = await client.get("/api/v1/audit-log", headers=system)
    assert resp.status == 200, await resp.text()
    bot, patched, created = (await resp.json())["items"]
    for entry in (bot, patched, created):
        assert entry["actor"] == {"subject": "ops", "role": "system_admin", "name": "Operations"}
        assert entry["source"] == "api"
    assert (created["object_type"], created["object_id"], created["tenant"]) == (
        "tenants", "initech", "")  # fmt: skip
    assert (patched["object_id"], patched["tenant"], patched["fields"]) == ("acme", "acme",
                                                                            ["name"])  # fmt: skip
    assert (bot["object_id"], bot["tenant"]) == ("wb", "acme")
    # acme's tenant admins (and a system:acme token) read the changes made to acme.
    for headers in (await auth_headers(client, "acme", "root"), as_acme):
        resp = await client.get("/api/v1/audit-log", headers=headers)
        body = await resp.json()
        assert [(e["path"], e["actor"]["subject"]) for e in body["items"]] == [
            ("/api/v1/bot-accounts", "ops"), ("/api/v1/tenants/acme", "ops")]  # fmt: skip
    assert (await _log(client, "globex"))["total"] == 0


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (Settings(tick_seconds=0.02, partitions=2, trusted_proxy=False), "127.0.0.1"),
        (Settings(tick_seconds=0.02, partitions=2, trusted_proxy=True), "198.51.100.7"),
    ],
    ids=["untrusted", "trusted"],
)
async def test_forwarded_for_is_honoured_only_behind_a_trusted_proxy(
    client: Client, expected: str
) -> None:
    headers = await auth_headers(client, "acme", "root")
    headers["X-Forwarded-For"] = "203.0.113.9, 198.51.100.7"
    resp = await client.post("/api/v1/bot-accounts", json=watson("wb"), headers=headers)
    assert resp.status == 201
    (entry,) = (await _log(client))["items"]
    assert entry["remote"] == expected
