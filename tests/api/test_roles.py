"""Roles on every route: declared in the registry and enforced there.

Every non-public ``/api/v1`` route declares the roles (and role privilege) that may call it;
``openapi.register`` answers 403 for any other principal before the handler runs. The role
matrix calls every route of the consistent groups with a token of each role and expects a
403 exactly when the route does not admit the role.
"""

from __future__ import annotations

from typing import Any, get_args

import pytest
from aiohttp.test_utils import TestClient

from router import api_routes
from router.auth import Role
from router.openapi import ApiRoute, routes_of
from router.runtime import Runtime
from tests.api.conftest import bearer

Client = TestClient[Any, Any]

ROUTES: tuple[ApiRoute, ...] = (
    *api_routes.CORE[:2],  # queue status, one session
    *api_routes.ACCOUNTS,
    *api_routes.BOTS,
    *api_routes.CPAAS,
    *api_routes.NUMBERS,
    *api_routes.SMS,
    *api_routes.EVENTS,
)
ROLES: tuple[str, ...] = get_args(Role)
# (role, privileges): every role, and an API user with the SMS/MMS API privilege.
CALLERS = [(role, ()) for role in ROLES] + [("api", ("use_sms_api",))]


def admits(route: ApiRoute, role: str, privileges: tuple[str, ...]) -> bool:
    assert route.roles is not None
    return role in route.roles or (route.privilege is not None and route.privilege in privileges)


def _url(route: ApiRoute) -> str:
    path = route.path
    for name in route.path_params:
        path = path.replace("{" + name + "}", "2015550999" if name == "number" else "nope")
    return path


def test_the_matrix_covers_the_existing_routes() -> None:
    assert api_routes.CORE[0].path == "/api/v1/queues/{queue}/status"
    assert api_routes.CORE[1].path == "/api/v1/sessions/{session_id}"
    assert len(ROUTES) >= 40
    assert {"tenant_admin", "supervisor", "agent", "api"} <= set(ROLES)


async def test_every_non_public_route_declares_its_roles(client: Client) -> None:
    undeclared = [
        f"{r.method} {r.path}"
        for r in routes_of(client.app)
        if not r.public and r.roles is None and r.privilege is None
    ]
    assert not undeclared, f"routes without roles= (add them in router/api_routes.py): {undeclared}"
    for route in routes_of(client.app):
        for role in route.roles or ():
            assert role in (*ROLES, "system_admin"), (route.path, role)


def test_admin_routes_admit_the_system_admin() -> None:
    for route in ROUTES:
        assert route.roles is not None
        if "tenant_admin" in route.roles:
            assert "system_admin" in route.roles, f"{route.method} {route.path}"


def test_the_sms_api_admits_only_its_privilege() -> None:
    sms = [r for r in ROUTES if r.path.startswith("/api/v1/sms/")]
    assert len(sms) == 2
    for route in sms:
        assert route.roles == ()
        assert route.privilege == "use_sms_api"


@pytest.mark.parametrize(("role", "privileges"), CALLERS, ids=lambda v: str(v) or "-")
async def test_role_matrix(
    client: Client, runtime: Runtime, role: str, privileges: tuple[str, ...]
) -> None:
    headers = await bearer(runtime, role, privileges)
    wrong: list[str] = []
    for route in ROUTES:
        body = {} if route.method in ("POST", "PUT", "PATCH") else None
        resp = await client.request(route.method, _url(route), json=body, headers=headers)
        text = await resp.text()
        allowed = admits(route, role, privileges)
        if (resp.status == 403) == allowed:
            wrong.append(f"{route.method} {route.path}: {resp.status} {text[:120]}")
        if resp.status == 403:
            assert (await resp.json())["error"]["code"] == "forbidden"
    assert not wrong, f"{role}{list(privileges)} admitted: " + "; ".join(wrong)
