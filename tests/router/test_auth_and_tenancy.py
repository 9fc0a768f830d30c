"""Tokens (OAuth2), who may use the agent socket and the API, and tenant isolation."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from router.models import SessionState
from router.runtime import Runtime
from tests.clients import AgentClient, eventually
from tests.router.conftest import (
    API_SECRET,
    PASSWORD,
    ConnectAgent,
    ConnectCustomer,
    api_token,
    history_texts,
    session_of,
    tenant,
    token,
)

QUEUES = [
    {"id": "support", "offer_timeout_seconds": 30},
    {"id": "billing", "offer_timeout_seconds": 30},
]


@pytest.fixture
def config_data() -> dict[str, Any]:
    # Long offers (nothing here is about expiry); "vip" exists in acme only.
    return {
        "tenants": [
            tenant("acme", queues=[*QUEUES, {"id": "vip"}]),
            tenant("globex", queues=QUEUES),
        ]
    }


async def post_token(
    client: TestClient[Any, Any], headers: dict[str, str] | None = None, /, **form: str
) -> tuple[int, dict[str, Any]]:
    resp = await client.post("/oauth/token", data=form, headers=headers)
    body: dict[str, Any] = await resp.json()
    if resp.status != 200:
        assert resp.headers["Cache-Control"] == "no-store"
    return resp.status, body


def bearer(tok: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {tok}"}


async def get_json(
    client: TestClient[Any, Any], path: str, tok: str | None
) -> tuple[int, dict[str, Any]]:
    resp = await client.get(path, headers=bearer(tok) if tok is not None else None)
    assert resp.content_type == "application/json"
    body: dict[str, Any] = await resp.json()
    return resp.status, body


def api_error(body: dict[str, Any]) -> dict[str, Any]:
    """The error of an API error body, checked for the documented shape."""
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "field"}
    assert isinstance(error["message"], str)
    assert error["message"]
    return error


# -- POST /oauth/token --------------------------------------------------------------------


async def test_password_grant_issues_a_working_token(client: TestClient[Any, Any]) -> None:
    status, body = await post_token(
        client, grant_type="password", username="ann", password=PASSWORD, scope="acme"
    )
    assert status == 200
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "acme"
    assert body["expires_in"] == 8 * 3600
    ws = await client.ws_connect("/agent/ws?access_token=" + body["access_token"])
    agent = AgentClient(ws)
    hello = await agent.expect("hello")
    assert (hello["agent"]["id"], hello["agent"]["tenant"]) == ("ann", "acme")
    await agent.close()


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({"username": "ann", "password": "wrong password"}, "invalid_grant"),
        ({"username": "nobody", "password": PASSWORD}, "invalid_grant"),
        ({"username": "ann", "password": PASSWORD, "scope": "initech"}, "invalid_grant"),
        # The API user's secret does not make an agent token.
        ({"username": "crm", "password": API_SECRET}, "invalid_grant"),
        ({"username": "ann"}, "invalid_request"),
        ({"username": "ann", "password": PASSWORD, "scope": ""}, "invalid_scope"),
    ],
    ids=[
        "wrong-password",
        "unknown-user",
        "unknown-tenant",
        "api-secret-as-password",
        "no-password",
        "no-scope",
    ],
)
async def test_password_grant_errors(
    client: TestClient[Any, Any], form: dict[str, str], error: str
) -> None:
    status, body = await post_token(client, **{"grant_type": "password", "scope": "acme", **form})
    assert status == 400
    assert body["error"] == error
    assert body["error_description"]
    assert "access_token" not in body


async def test_wrong_content_type_is_an_invalid_request(client: TestClient[Any, Any]) -> None:
    resp = await client.post(
        "/oauth/token",
        json={"grant_type": "password", "username": "ann", "password": PASSWORD, "scope": "acme"},
    )
    assert resp.status == 400
    body = await resp.json()
    assert body["error"] == "invalid_request"
    assert "access_token" not in body


async def test_unsupported_grant_type(client: TestClient[Any, Any]) -> None:
    status, body = await post_token(
        client, grant_type="authorization_code", code="abc", scope="acme"
    )
    assert status == 400
    assert body["error"] == "unsupported_grant_type"


async def test_client_credentials_in_the_form_and_with_http_basic(
    client: TestClient[Any, Any],
) -> None:
    status, body = await post_token(
        client,
        grant_type="client_credentials",
        client_id="crm",
        client_secret=API_SECRET,
        scope="acme",
    )
    assert status == 200
    assert (body["token_type"], body["scope"]) == ("Bearer", "acme")
    code, _ = await get_json(client, "/api/v1/queues/support/status", body["access_token"])
    assert code == 200

    basic = base64.b64encode(f"crm:{API_SECRET}".encode()).decode()
    status, body = await post_token(
        client,
        {"Authorization": f"Basic {basic}"},
        grant_type="client_credentials",
        scope="acme",
    )
    assert status == 200
    code, _ = await get_json(client, "/api/v1/queues/support/status", body["access_token"])
    assert code == 200

    wrong = base64.b64encode(b"crm:not-the-secret-at-all").decode()
    status, body = await post_token(
        client,
        {"Authorization": f"Basic {wrong}"},
        grant_type="client_credentials",
        scope="acme",
    )
    assert (status, body["error"]) == (400, "invalid_grant")


@pytest.mark.parametrize(
    ("client_id", "secret", "scope"),
    [
        ("crm", "not-the-secret-at-all", "acme"),
        ("crm", API_SECRET, "initech"),
        ("ann", PASSWORD, "acme"),  # an agent is not an API client
    ],
    ids=["wrong-secret", "unknown-tenant", "agent-credentials"],
)
async def test_client_credentials_errors(
    client: TestClient[Any, Any], client_id: str, secret: str, scope: str
) -> None:
    status, body = await post_token(
        client,
        grant_type="client_credentials",
        client_id=client_id,
        client_secret=secret,
        scope=scope,
    )
    assert (status, body["error"]) == (400, "invalid_grant")
    assert "access_token" not in body


# -- the agent socket ---------------------------------------------------------------------


def token_key(tok: str) -> str:
    return "sb:tok:" + hashlib.sha256(tok.encode()).hexdigest()


@pytest.mark.parametrize("kind", ["missing", "garbage", "expired", "api-user"])
async def test_agent_socket_refuses_bad_tokens(
    client: TestClient[Any, Any], runtime: Runtime, kind: str
) -> None:
    headers: dict[str, str] = {}
    if kind == "garbage":
        headers = bearer("not-a-token")
    elif kind == "expired":
        tok = await token(client, "acme", "ann")
        key = token_key(tok)
        assert 0 < await runtime.store.client.ttl(key) <= 8 * 3600  # tokens do expire
        await runtime.store.client.pexpireat(key, 1)  # ...and this one now has
        headers = bearer(tok)
    elif kind == "api-user":
        headers = bearer(await api_token(client, "acme"))

    agent = AgentClient(await client.ws_connect("/agent/ws", headers=headers))
    error = await agent.expect("error")
    assert error["code"] == "unauthorized"
    assert await agent.wait_closed() == 4401
    assert agent.of("hello") == []
    status = await runtime.store.agent_status("acme", "ann")
    assert status is not None
    assert status.state.value == "logged_out"


# -- the API ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/v1/queues/support/status", "/api/v1/sessions/whatever"], ids=["queue", "session"]
)
@pytest.mark.parametrize("tok", [None, "", "not-a-token"], ids=["none", "empty", "garbage"])
async def test_api_without_a_valid_token_is_401(
    client: TestClient[Any, Any], path: str, tok: str | None
) -> None:
    status, body = await get_json(client, path, tok)
    assert status == 401
    error = api_error(body)
    assert error["code"] == "unauthorized"


async def test_api_with_an_expired_token_is_401(
    client: TestClient[Any, Any], runtime: Runtime
) -> None:
    tok = await api_token(client, "acme")
    assert (await get_json(client, "/api/v1/queues/support/status", tok))[0] == 200
    await runtime.store.client.pexpireat(token_key(tok), 1)
    status, body = await get_json(client, "/api/v1/queues/support/status", tok)
    assert status == 401
    assert api_error(body)["code"] == "unauthorized"


async def test_openapi_document_needs_no_token(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/api/v1/openapi.json")
    assert resp.status == 200
    assert (await resp.json())["openapi"].startswith("3.1")


# -- tenant isolation ---------------------------------------------------------------------


async def test_another_tenants_queue_and_session_answer_404(
    client: TestClient[Any, Any], runtime: Runtime, connect_customer: ConnectCustomer
) -> None:
    customer = await connect_customer("acme")
    await customer.say("acme's secret question")
    session_id = await session_of(runtime, customer)
    await eventually(lambda: _has_history(runtime, session_id), "the acme message to be filed")
    acme, globex = await api_token(client, "acme"), await api_token(client, "globex")
    before = await runtime.store.load_session("acme", session_id)

    status, body = await get_json(client, "/api/v1/queues/vip/status", globex)
    assert status == 404
    assert api_error(body) == {"code": "not_found", "message": "no queue 'vip'", "field": "queue"}
    status, body = await get_json(client, f"/api/v1/sessions/{session_id}", globex)
    assert status == 404
    assert api_error(body)["field"] == "session_id"
    assert "acme's secret question" not in str(body)
    # Same-named queues are each tenant's own: globex does not see acme's waiting customer.
    status, body = await get_json(client, "/api/v1/queues/support/status", globex)
    assert (status, body["tenant"], body["queue_length"]) == (200, "globex", 0)

    status, body = await get_json(client, "/api/v1/queues/vip/status", acme)
    assert (status, body["tenant"]) == (200, "acme")
    status, body = await get_json(client, "/api/v1/queues/support/status", acme)
    assert (status, body["queue_length"]) == (200, 1)
    status, body = await get_json(client, f"/api/v1/sessions/{session_id}", acme)
    assert status == 200
    assert body["id"] == session_id
    assert [m["text"] for m in body["history"]] == ["acme's secret question"]

    assert await runtime.store.load_session("acme", session_id) == before
    assert await runtime.store.load_session("globex", session_id) is None


async def _has_history(runtime: Runtime, session_id: str) -> bool:
    return bool(await history_texts(runtime, "acme", session_id))


async def test_agents_read_sessions_over_their_socket_not_the_api(
    client: TestClient[Any, Any],
) -> None:
    tok = await token(client, "acme", "ann")
    status, body = await get_json(client, "/api/v1/sessions/whatever", tok)
    assert status == 403
    assert api_error(body)["code"] == "forbidden"


async def test_another_tenants_agent_cannot_touch_a_session(
    connect_agent: ConnectAgent, connect_customer: ConnectCustomer, runtime: Runtime
) -> None:
    ann = await connect_agent("ann", "acme")
    intruder = await connect_agent("ann", "globex")  # same agent id, other tenant
    customer = await connect_customer("acme")
    await customer.say("for acme's eyes only")
    offer = await ann.expect("offer")
    session_id = offer["session_id"]
    ids = {"session_id": session_id, "offer_id": offer["offer_id"]}
    before = await runtime.store.load_session("acme", session_id)
    assert before is not None

    attempts: list[tuple[dict[str, Any], str]] = [
        ({"type": "accept", **ids}, "offer_not_available"),
        ({"type": "reject", **ids}, "offer_not_available"),
        ({"type": "send", "session_id": session_id, "text": "gotcha"}, "not_found"),
        ({"type": "close", "session_id": session_id}, "not_found"),
        ({"type": "transfer", "session_id": session_id, "queue": "billing"}, "not_found"),
    ]
    for frame, code in attempts:
        error = await intruder.expect_error(frame)
        assert (error["code"], error["ref"]) == (code, frame["type"])
    assert await runtime.store.load_session("acme", session_id) == before
    assert intruder.of("assigned") == []

    # The real agent is unaffected, and the session stays out of reach once assigned.
    await ann.accept(offer)
    assigned = await runtime.store.load_session("acme", session_id)
    assert assigned is not None
    assert (assigned.state, assigned.agent) == (SessionState.ASSIGNED, "ann")
    for frame, code in attempts[2:]:
        error = await intruder.expect_error(frame)
        assert error["code"] == code
    assert await runtime.store.load_session("acme", session_id) == assigned
    await ann.reply(session_id, "Hello from acme")
    await customer.expect_text("Hello from acme")
    assert [m["message"]["text"] for m in customer.of("message")] == ["Hello from acme"]
    ann_status = await runtime.store.agent_status("acme", "ann")
    assert ann_status is not None
    assert ann_status.load == 1
    globex_status = await runtime.store.agent_status("globex", "ann")
    assert globex_status is not None
    assert globex_status.load == 0


# -- secrets at rest ----------------------------------------------------------------------


async def test_passwords_and_secrets_are_not_stored_in_clear(
    client: TestClient[Any, Any], runtime: Runtime
) -> None:
    await token(client, "acme", "ann")
    await api_token(client, "globex")
    redis = runtime.store.client
    dump: list[str] = []
    credentials = 0
    async for raw_key in redis.scan_iter("*"):
        key = str(raw_key)
        dump.append(key)
        kind = await redis.type(key)
        if kind == "string":
            dump.append(str(await redis.get(key)))
        elif kind == "hash":
            dump.extend(f"{k!s}={v!s}" for k, v in (await redis.hgetall(key)).items())
        elif kind == "list":
            dump.extend(str(v) for v in await redis.lrange(key, 0, -1))
        elif kind == "set":
            dump.extend(str(v) for v in await redis.smembers(key))
        elif kind == "zset":
            dump.extend(str(v) for v in await redis.zrange(key, 0, -1))
        if ":cred:" in key:
            credentials += 1
            assert '"secret_hash":"scrypt$' in str(await redis.get(key))
    # ann, ben, cat, sue and crm, in both tenants
    assert credentials == 10
    everything = "\n".join(dump)
    assert PASSWORD not in everything
    assert API_SECRET not in everything
