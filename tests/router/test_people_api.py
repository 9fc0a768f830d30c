"""Tenants, users and roles, agents, not-ready reasons and queues over ``/api/v1``: who may
do what, tenant isolation, ETag preconditions, validation, write-only secrets, and changes
seen by a second process on the same store."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from queues.memory import InMemoryBroker
from router.app import create_app
from router.config import Config
from router.keys import RUNTIME
from router.models import AgentState
from router.runtime import Runtime
from router.settings import Settings
from router.store import RedisStore
from router.store.memory import MemoryRedis
from router.store.memory.keyspace import Keyspace
from tests.clients import TIMEOUT
from tests.router.conftest import API_SECRET, PASSWORD, ConnectCustomer, agent, tenant

ROOT_PASSWORD = "root-password-123"
AppClient = TestClient[Any, Any]


def _config() -> dict[str, Any]:
    acme = tenant("acme")
    acme["agents"] = [*acme["agents"], agent("adam", role="tenant_admin", queues=[])]
    acme["api_users"] = [
        {"client_id": "crm", "client_secret": API_SECRET},
        {"client_id": "texter", "client_secret": API_SECRET, "privileges": ["use_sms_api"]},
    ]
    globex = tenant("globex")
    globex["agents"] = [*globex["agents"], agent("gail", role="tenant_admin", queues=[])]
    return {
        "tenants": [acme, globex],
        "system_admins": [{"username": "root", "password": ROOT_PASSWORD, "name": "Root"}],
    }


@pytest.fixture
def config_data() -> dict[str, Any]:
    return _config()


async def _token(client: AppClient, **form: str) -> str:
    resp = await client.post("/oauth/token", data=form)
    assert resp.status == 200, await resp.text()
    return str((await resp.json())["access_token"])


async def login(client: AppClient, who: str, tenant_id: str = "acme") -> dict[str, str]:
    """Authorization headers of ``who``: a username, "api", or "system" (system admin)."""
    if who == "system":
        tok = await _token(
            client, grant_type="password", username="root", password=ROOT_PASSWORD,
            scope=f"system:{tenant_id}",
        )  # fmt: skip
    elif who == "api":
        tok = await _token(
            client, grant_type="client_credentials", client_id="crm", client_secret=API_SECRET,
            scope=tenant_id,
        )  # fmt: skip
    else:
        tok = await _token(
            client, grant_type="password", username=who, password=PASSWORD, scope=tenant_id
        )
    return {"Authorization": f"Bearer {tok}"}


async def call(
    client: AppClient, method: str, path: str, auth: dict[str, str], body: Any = None,
    **headers: str,
) -> tuple[int, Any, str | None]:  # fmt: skip
    resp = await client.request(method, path, json=body, headers={**auth, **headers})
    data = await resp.json() if resp.content_type == "application/json" else None
    return resp.status, data, resp.headers.get("ETag")


# -- system admins ---------------------------------------------------------------------------


async def test_system_admin_signs_in_with_the_system_scope(client: AppClient) -> None:
    form = {"grant_type": "password", "username": "root", "password": ROOT_PASSWORD}
    resp = await client.post("/oauth/token", data={**form, "scope": "system"})
    assert resp.status == 200
    body = await resp.json()
    assert body["scope"] == "system"
    auth = {"Authorization": f"Bearer {body['access_token']}"}
    status, page, _ = await call(client, "GET", "/api/v1/tenants", auth)
    assert status == 200
    assert [t["id"] for t in page["items"]] == ["acme", "globex"]
    assert all(t["configured"] for t in page["items"])
    # A system-wide token names no tenant: tenant-scoped routes say so.
    status, error, _ = await call(client, "GET", "/api/v1/users", auth)
    assert (status, error["error"]["code"]) == (400, "no_tenant")

    for bad, code in [
        ({**form, "password": "wrong password", "scope": "system"}, "invalid_grant"),
        ({**form, "scope": "system:initech"}, "invalid_scope"),
        ({**form, "username": "ann", "password": PASSWORD, "scope": "system"}, "invalid_grant"),
        ({"grant_type": "client_credentials", "client_id": "root",
          "client_secret": ROOT_PASSWORD, "scope": "system"}, "unsupported_grant_type"),
    ]:  # fmt: skip
        resp = await client.post("/oauth/token", data=bad)
        assert resp.status == 400
        assert (await resp.json())["error"] == code


async def test_a_tenant_cannot_be_called_system() -> None:
    from router.errors import ConfigError

    with pytest.raises(ConfigError, match="reserved"):
        Config.parse({"tenants": [{"id": "system"}]})


# -- role enforcement -------------------------------------------------------------------------

ROLES = ("agent", "supervisor", "tenant_admin", "api", "system_admin")
USERS = {"agent": "ann", "supervisor": "sue", "tenant_admin": "adam", "api": "api",
         "system_admin": "system"}  # fmt: skip
ADMINS = {"tenant_admin", "system_admin"}
SUPERVISORS = ADMINS | {"supervisor"}
# (method, path, body, roles allowed); bodies are invalid so nothing changes when allowed.
MATRIX: list[tuple[str, str, Any, set[str]]] = [
    ("GET", "/api/v1/tenants", None, {"system_admin"}),
    ("POST", "/api/v1/tenants", {}, {"system_admin"}),
    ("GET", "/api/v1/tenants/acme", None, ADMINS),
    ("PATCH", "/api/v1/tenants/acme", {"time_zone": "Mars/Base"}, {"system_admin"}),
    ("DELETE", "/api/v1/tenants/nowhere", None, {"system_admin"}),
    ("GET", "/api/v1/roles", None, set(ROLES)),
    ("GET", "/api/v1/users", None, ADMINS),
    ("POST", "/api/v1/users", {}, ADMINS),
    ("GET", "/api/v1/users/ann", None, ADMINS),
    ("PATCH", "/api/v1/users/ann", {"capacity": 0}, ADMINS),
    ("DELETE", "/api/v1/users/nobody", None, ADMINS),
    ("GET", "/api/v1/agents", None, SUPERVISORS),
    ("GET", "/api/v1/agents/ann", None, SUPERVISORS),
    ("PATCH", "/api/v1/agents/ann", {"capacity": 0}, ADMINS),
    ("GET", "/api/v1/not-ready-reasons", None, SUPERVISORS | {"agent"}),
    ("PUT", "/api/v1/not-ready-reasons", {}, ADMINS),
    ("GET", "/api/v1/queues", None, SUPERVISORS),
    ("POST", "/api/v1/queues", {}, ADMINS),
    ("GET", "/api/v1/queues/support", None, SUPERVISORS),
    ("PATCH", "/api/v1/queues/support", {"offer_timeout_seconds": 0}, ADMINS),
    ("DELETE", "/api/v1/queues/nowhere", None, ADMINS),
]


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_may_call_only_its_routes(client: AppClient, role: str) -> None:
    auth = await login(client, USERS[role])
    for method, path, body, allowed in MATRIX:
        status, data, _ = await call(client, method, path, auth, body)
        if role in allowed:
            assert status != 403, (method, path, data)
            assert status < 500
        else:
            assert status == 403, (method, path, status)
            assert data["error"]["code"] == "forbidden"


# -- tenant isolation -------------------------------------------------------------------------


async def test_another_tenants_objects_answer_404(client: AppClient) -> None:
    acme = await login(client, "adam")
    for path in (
        "/api/v1/users/gail",
        "/api/v1/agents/gail",
        "/api/v1/tenants/globex",
    ):
        status, body, _ = await call(client, "GET", path, acme)
        assert (status, body["error"]["code"]) == (404, "not_found"), path
    status, page, _ = await call(client, "GET", "/api/v1/users", acme)
    assert status == 200
    assert "gail" not in {u["username"] for u in page["items"]}
    assert {"ann", "adam", "crm"} <= {u["username"] for u in page["items"]}
    # A system admin acting on globex sees globex's, and not acme's.
    system = await login(client, "system", "globex")
    status, body, _ = await call(client, "GET", "/api/v1/users/gail", system)
    assert (status, body["role"]) == (200, "tenant_admin")
    status, _, _ = await call(client, "GET", "/api/v1/users/adam", system)
    assert status == 404


# -- users ------------------------------------------------------------------------------------


async def test_users_lifecycle_with_write_only_passwords(
    client: AppClient, runtime: Runtime
) -> None:
    admin = await login(client, "adam")
    new = {"username": "dora", "name": "Dora", "role": "agent", "capacity": 2,
           "queues": ["billing"], "skills": ["fr"], "password": "dora-password"}  # fmt: skip
    status, body, etag = await call(client, "POST", "/api/v1/users", admin, new)
    assert status == 201, body
    assert body == {
        "username": "dora", "id": "dora", "name": "Dora", "role": "agent", "privileges": [],
        "capacity": 2, "queues": ["billing"], "skills": ["fr"], "secret_set": True,
    }  # fmt: skip
    assert etag
    assert "dora-password" not in str(await runtime.store.client.hgetall("sb:acme:dir:users"))
    status, again, _ = await call(client, "POST", "/api/v1/users", admin, new)
    assert (status, again["error"]["field"]) == (409, "username")

    # Dora signs in, serves billing, and is an agent with live state.
    dora = await _token(
        client, grant_type="password", username="dora", password="dora-password", scope="acme"
    )
    status, queue, _ = await call(client, "GET", "/api/v1/queues/billing", admin)
    assert "dora" in queue["members"]
    status, agent_view, _ = await call(client, "GET", "/api/v1/agents/dora", admin)
    assert (agent_view["state"], agent_view["capacity"], agent_view["connected"]) == (
        "logged_out", 2, False,
    )  # fmt: skip

    # A stale If-Match changes nothing.
    status, error, current = await call(
        client, "PATCH", "/api/v1/users/dora", admin, {"role": "supervisor"}, **{"If-Match": '"x"'}
    )
    assert (status, error["error"]["code"], current) == (412, "precondition_failed", etag)
    status, body, etag2 = await call(
        client, "PATCH", "/api/v1/users/dora", admin, {"role": "supervisor", "name": "Dora S"},
        **{"If-Match": etag or ""},
    )  # fmt: skip
    assert (status, body["role"], body["name"]) == (200, "supervisor", "Dora S")
    assert etag2 != etag
    # A changed role revokes the tokens carrying the old one.
    status, _, _ = await call(
        client, "GET", "/api/v1/not-ready-reasons", {"Authorization": f"Bearer {dora}"}
    )
    assert status == 401
    cred = await runtime.store.get_credential("acme", "dora")
    assert cred is not None
    assert cred.role == "supervisor"

    # Deleting Dora: no more sign-in, no more queue.
    status, _, _ = await call(client, "DELETE", "/api/v1/users/dora", admin)
    assert status == 204
    resp = await client.post(
        "/oauth/token",
        data={"grant_type": "password", "username": "dora", "password": "dora-password",
              "scope": "acme"},
    )  # fmt: skip
    assert (resp.status, (await resp.json())["error"]) == (400, "invalid_grant")
    status, queue, _ = await call(client, "GET", "/api/v1/queues/billing", admin)
    assert "dora" not in queue["members"]
    assert "dora" not in await runtime.store.client.smembers("sb:acme:qa:billing")
    status, _, _ = await call(client, "GET", "/api/v1/users/dora", admin)
    assert status == 404


async def test_deleting_a_user_ends_their_tokens(client: AppClient) -> None:
    admin = await login(client, "adam")
    ben = await login(client, "ben")
    status, _, _ = await call(client, "GET", "/api/v1/not-ready-reasons", ben)
    assert status == 200
    status, _, _ = await call(client, "DELETE", "/api/v1/users/ben", admin)
    assert status == 204
    status, _, _ = await call(client, "GET", "/api/v1/not-ready-reasons", ben)
    assert status == 401


async def test_api_users_have_client_secrets_and_privileges(client: AppClient) -> None:
    admin = await login(client, "adam")
    new = {"username": "erp", "role": "api", "privileges": ["use_sms_api"],
           "client_secret": "erp-secret-erp-secret"}  # fmt: skip
    status, body, _ = await call(client, "POST", "/api/v1/users", admin, new)
    assert status == 201, body
    assert (body["id"], body["secret_set"], body["privileges"]) == ("erp", True, ["use_sms_api"])
    assert "client_secret" not in body
    await _token(
        client, grant_type="client_credentials", client_id="erp",
        client_secret="erp-secret-erp-secret", scope="acme",
    )  # fmt: skip
    status, page, _ = await call(client, "GET", "/api/v1/users?role=api", admin)
    assert {u["username"] for u in page["items"]} == {"crm", "texter", "erp"}
    assert all(set(u) >= {"secret_set"} and "client_secret" not in u for u in page["items"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "x1", "role": "agent", "privileges": ["use_sms_api"]}, None),
        ({"username": "x1", "role": "api", "password": "long enough pw"}, None),
        ({"username": "x1", "role": "agent", "queues": ["nowhere"]}, "queues"),
        ({"username": "x1", "role": "agent", "capacity": 0}, "capacity"),
        ({"username": "x1", "role": "agent", "password": "short"}, "password"),
        ({"username": "x1", "role": "wizard"}, "role"),
        ({"username": "Ann@Example.com", "role": "agent"}, "id"),
        ({"username": "x1", "role": "agent", "color": "red"}, "color"),
    ],
)
async def test_user_validation_names_the_field(
    client: AppClient, body: dict[str, Any], field: str | None
) -> None:
    admin = await login(client, "adam")
    status, error, _ = await call(client, "POST", "/api/v1/users", admin, body)
    assert status == 400
    assert error["error"]["field"] == field
    assert error["error"]["message"]


async def test_roles_describe_what_each_may_do(client: AppClient) -> None:
    status, page, _ = await call(client, "GET", "/api/v1/roles", await login(client, "ann"))
    assert status == 200
    roles = {r["id"]: r for r in page["items"]}
    assert set(roles) == set(ROLES)
    assert roles["api"]["privileges"] == ["use_sms_api"]
    assert all(r["may"] for r in roles.values())


# -- agents, reasons, queues ------------------------------------------------------------------


async def test_agents_show_live_state_and_admins_change_capacity(
    client: AppClient, runtime: Runtime
) -> None:
    await runtime.conversations.set_state("acme", "ann", AgentState.NOT_READY, "Lunch")
    sue = await login(client, "sue")
    status, page, _ = await call(client, "GET", "/api/v1/agents?state=not_ready", sue)
    assert status == 200
    assert [(a["id"], a["reason"]) for a in page["items"]] == [("ann", "Lunch")]
    status, page, _ = await call(client, "GET", "/api/v1/agents?queue=billing&limit=1", sue)
    assert (page["total"], page["limit"], len(page["items"])) == (2, 1, 1)
    status, error, _ = await call(client, "GET", "/api/v1/agents?state=asleep", sue)
    assert (status, error["error"]["field"]) == (400, "state")

    admin = await login(client, "adam")
    status, _, etag = await call(client, "GET", "/api/v1/agents/ann", admin)
    assert status == 200
    status, body, _ = await call(
        client, "PATCH", "/api/v1/agents/ann", admin, {"capacity": 3, "skills": ["de"]},
        **{"If-Match": etag or ""},
    )  # fmt: skip
    assert (status, body["capacity"], body["skills"], body["state"]) == (
        200, 3, ["de"], "not_ready",
    )  # fmt: skip
    live = await runtime.store.agent_status("acme", "ann")
    assert live is not None
    assert (live.capacity, live.reason) == (3, "Lunch")
    status, _, _ = await call(
        client, "PATCH", "/api/v1/agents/ann", admin, {"capacity": 2}, **{"If-Match": etag or ""}
    )
    assert status == 412


async def test_not_ready_reasons_are_replaced_with_an_etag(
    client: AppClient, runtime: Runtime
) -> None:
    admin = await login(client, "adam")
    status, body, etag = await call(client, "GET", "/api/v1/not-ready-reasons", admin)
    assert body == {"reasons": ["Break", "Lunch", "Meeting", "Training"]}
    new = {"reasons": ["Coffee", "Coaching"]}
    status, body, _ = await call(
        client, "PUT", "/api/v1/not-ready-reasons", admin, new, **{"If-Match": etag or ""}
    )
    assert (status, body) == (200, new)
    acme = runtime.config.tenant("acme")
    assert acme is not None
    assert acme.not_ready_reasons == ("Coffee", "Coaching")
    status, _, _ = await call(
        client, "PUT", "/api/v1/not-ready-reasons", admin, new, **{"If-Match": etag or ""}
    )
    assert status == 412
    status, error, _ = await call(
        client, "PUT", "/api/v1/not-ready-reasons", admin, {"reasons": ["A", "A"]}
    )
    assert (status, error["error"]["field"]) == (400, "reasons")


async def test_queues_are_created_changed_and_deleted(client: AppClient, runtime: Runtime) -> None:
    admin = await login(client, "adam")
    body = {"id": "sales", "name": "Sales", "offer_timeout_seconds": 12, "members": ["ann"]}
    status, view, etag = await call(client, "POST", "/api/v1/queues", admin, body)
    assert (status, view) == (201, {**body, "offer_timeout_seconds": 12.0})
    assert ("acme", "sales") in runtime.dispatcher.lines
    status, user, _ = await call(client, "GET", "/api/v1/users/ann", admin)
    assert user["queues"] == ["support", "sales"]
    status, view, _ = await call(
        client, "PATCH", "/api/v1/queues/sales", admin,
        {"offer_timeout_seconds": 20, "members": ["ben", "cat"]}, **{"If-Match": etag or ""},
    )  # fmt: skip
    assert (status, view["members"]) == (200, ["ben", "cat"])
    assert runtime.dispatcher.lines[("acme", "sales")].offer_timeout == 20
    assert set(await runtime.store.client.smembers("sb:acme:qa:sales")) == {"ben", "cat"}
    status, page, _ = await call(client, "GET", "/api/v1/queues?member=cat", admin)
    assert [q["id"] for q in page["items"]] == ["billing", "sales"]
    status, error, _ = await call(client, "POST", "/api/v1/queues", admin, {"id": "sales"})
    assert (status, error["error"]["field"]) == (409, "id")
    status, error, _ = await call(
        client, "PATCH", "/api/v1/queues/sales", admin, {"members": ["nobody"]}
    )
    assert (status, error["error"]["field"]) == (400, "members")
    # The web stream routes to support: it stays.
    status, error, _ = await call(client, "DELETE", "/api/v1/queues/support", admin)
    assert status == 409
    status, _, _ = await call(client, "DELETE", "/api/v1/queues/sales", admin)
    assert status == 204
    status, user, _ = await call(client, "GET", "/api/v1/users/cat", admin)
    assert user["queues"] == ["billing"]
    acme = runtime.config.tenant("acme")
    assert acme is not None
    assert acme.queue("sales") is None


# -- tenants ----------------------------------------------------------------------------------


async def test_tenants_are_created_updated_and_deleted(
    client: AppClient, runtime: Runtime, connect_customer: ConnectCustomer
) -> None:
    root = await login(client, "system")
    status, error, _ = await call(
        client, "POST", "/api/v1/tenants", root, {"id": "initech", "time_zone": "Mars/Base"}
    )
    assert (status, error["error"]["field"]) == (400, "time_zone")
    status, error, _ = await call(client, "POST", "/api/v1/tenants", root, {"id": "system"})
    assert (status, error["error"]["field"]) == (400, "id")
    new = {"id": "initech", "name": "Initech", "time_zone": "America/Chicago"}
    status, view, etag = await call(client, "POST", "/api/v1/tenants", root, new)
    assert status == 201
    assert (view["configured"], view["not_ready_reasons"][0]) == (False, "Break")
    assert runtime.config.tenant("initech") is not None
    status, _, _ = await call(client, "POST", "/api/v1/tenants", root, new)
    assert status == 409

    # The system admin gives it an admin, who signs in to it.
    initech = await login(client, "system", "initech")
    user = {"username": "bill", "role": "tenant_admin", "password": "bill-password"}
    status, _, _ = await call(client, "POST", "/api/v1/users", initech, user)
    assert status == 201
    bill = await _token(
        client, grant_type="password", username="bill", password="bill-password",
        scope="initech",
    )  # fmt: skip
    status, own, _ = await call(
        client, "GET", "/api/v1/tenants/initech", {"Authorization": f"Bearer {bill}"}
    )
    assert (status, own["name"]) == (200, "Initech")

    status, view, _ = await call(
        client, "PATCH", "/api/v1/tenants/initech", root, {"name": "Initrode"},
        **{"If-Match": etag or ""},
    )  # fmt: skip
    assert (status, view["name"], view["time_zone"]) == (200, "Initrode", "America/Chicago")
    status, _, _ = await call(
        client, "PATCH", "/api/v1/tenants/initech", root, {"name": "X"}, **{"If-Match": etag or ""}
    )
    assert status == 412

    status, _, _ = await call(client, "DELETE", "/api/v1/tenants/initech", root)
    assert status == 204
    assert runtime.config.tenant("initech") is None
    status, _, _ = await call(
        client, "GET", "/api/v1/tenants/initech", {"Authorization": f"Bearer {bill}"}
    )
    assert status == 401

    # A tenant with an open session stays.
    customer = await connect_customer()
    await customer.say("hello")
    await eventually_open(runtime)
    status, error, _ = await call(client, "DELETE", "/api/v1/tenants/acme", root)
    assert (status, error["error"]["code"]) == (409, "conflict")


async def eventually_open(runtime: Runtime) -> None:
    from tests.clients import eventually

    async def opened() -> bool:
        keys = [k async for k in runtime.store.client.scan_iter(match="sb:acme:s:*")]
        return bool(keys)

    await eventually(opened, "a session to open")


# -- a second process on the same store -------------------------------------------------------


MakeApp = Callable[[web.Application], Awaitable[AppClient]]


async def _pair(
    aiohttp_client: MakeApp, make_store: Callable[[], RedisStore]
) -> tuple[AppClient, AppClient]:
    clients = []
    for node in ("n1", "n2"):
        settings = Settings(tick_seconds=0.02, partitions=4, node_id=node)
        config = Config.parse(_config())
        app = create_app(settings, config, store=make_store(), broker=InMemoryBroker())
        clients.append(await aiohttp_client(app))
    return clients[0], clients[1]


@pytest.fixture
async def pair(aiohttp_client: MakeApp) -> tuple[AppClient, AppClient]:
    keyspace = Keyspace()
    return await _pair(
        aiohttp_client,
        lambda: RedisStore(MemoryRedis(keyspace=keyspace)),
    )


async def test_changes_reach_a_second_process(pair: tuple[AppClient, AppClient]) -> None:
    await _second_process_sees_changes(*pair)


@pytest.mark.redis
async def test_changes_reach_a_second_process_on_real_redis(
    aiohttp_client: MakeApp, redis_url: str
) -> None:
    import redis.asyncio as aioredis

    flush = aioredis.Redis.from_url(redis_url)
    await flush.flushdb()
    await flush.aclose()
    await _second_process_sees_changes(
        *await _pair(aiohttp_client, lambda: RedisStore.from_url(redis_url))
    )


async def _second_process_sees_changes(first: AppClient, second: AppClient) -> None:
    other: Runtime = second.app[RUNTIME]
    root = await login(first, "system")
    new = {"id": "initech", "not_ready_reasons": ["Away"]}
    status, _, _ = await call(first, "POST", "/api/v1/tenants", root, new)
    assert status == 201
    admin = await login(first, "adam")
    status, _, _ = await call(
        first, "POST", "/api/v1/queues", admin, {"id": "sales", "members": ["ann"]}
    )
    assert status == 201

    def seen() -> bool:
        acme, initech = other.config.tenant("acme"), other.config.tenant("initech")
        return (
            initech is not None
            and initech.not_ready_reasons == ("Away",)
            and acme is not None
            and acme.queue("sales") is not None
            and "sales" in (acme.agent("ann") or acme.agents[0]).queues
        )

    await asyncio.wait_for(other.directory.wait_until(seen), TIMEOUT)
    assert ("acme", "sales") in other.dispatcher.lines
    # The second process serves the new tenant's users too.
    status, _, _ = await call(
        second, "GET", "/api/v1/queues/sales", await login(second, "system", "acme")
    )
    assert status == 200


async def test_the_file_wins_only_for_what_it_changed(pair: tuple[AppClient, AppClient]) -> None:
    from router.provisioning import apply_config

    first, _ = pair
    rt: Runtime = first.app[RUNTIME]
    admin = await login(first, "adam")
    status, _, _ = await call(first, "PATCH", "/api/v1/agents/ann", admin, {"capacity": 5})
    assert status == 200
    status, _, _ = await call(first, "DELETE", "/api/v1/users/ben", admin)
    assert status == 204
    # Starting again with the same file keeps the API's changes...
    await apply_config(rt.store, Config.parse(_config()))
    await rt.directory.load()
    status, ann, _ = await call(first, "GET", "/api/v1/agents/ann", admin)
    assert ann["capacity"] == 5
    status, _, _ = await call(first, "GET", "/api/v1/users/ben", admin)
    assert status == 404
    # ...and a file that changed Ann wins for Ann.
    data = _config()
    data["tenants"][0]["agents"][0] = agent("ann", capacity=4)
    await apply_config(rt.store, Config.parse(data))
    await rt.directory.load()
    status, ann, _ = await call(first, "GET", "/api/v1/agents/ann", admin)
    assert ann["capacity"] == 4


async def test_answers_match_their_documented_models(client: AppClient) -> None:
    from router import people_models as pm

    system = await login(client, "system")
    for path, model in [
        ("/api/v1/tenants", pm.TenantPage),
        ("/api/v1/tenants/acme", pm.TenantView),
        ("/api/v1/roles", pm.RolePage),
        ("/api/v1/users", pm.UserPage),
        ("/api/v1/users/ann", pm.UserView),
        ("/api/v1/agents", pm.AgentPage),
        ("/api/v1/agents/ann", pm.AgentView),
        ("/api/v1/not-ready-reasons", pm.NotReadyReasons),
        ("/api/v1/queues", pm.QueuePage),
        ("/api/v1/queues/support", pm.QueueView),
    ]:
        status, body, etag = await call(client, "GET", path, system)
        assert status == 200, (path, body)
        model.model_validate(body)
        if "items" not in body:
            assert etag, path
