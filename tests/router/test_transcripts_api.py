"""Session search and transcripts through the real app: ``/api/v1/sessions``,
``/api/v1/sessions/{id}/transcript`` and the admin console's transcript pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from queues.memory import InMemoryBroker
from router.app import create_app
from router.config import Config
from router.runtime import Runtime
from router.settings import Settings
from router.store import RedisStore
from router.store.memory import MemoryRedis
from router.store.search_backfill import DONE_KEY
from tests.clients import eventually
from tests.contracts.store import Clock, Desk
from tests.router.conftest import (
    ConnectAgent,
    ConnectCustomer,
    agent,
    api_token,
    auth_headers,
    session_of,
    tenant,
)
from tests.router.test_admin_console import signed_in

Client = TestClient[Any, Any]


@pytest.fixture
def config_data() -> dict[str, Any]:
    def with_admin(tid: str) -> dict[str, Any]:
        agents = [
            agent("ann", name="Ann Agent"),
            agent("sue", role="supervisor"),
            agent("root", role="tenant_admin", queues=[]),
        ]
        return tenant(tid, agents=agents)

    return {"tenants": [with_admin("acme"), with_admin("globex")]}


@pytest.fixture
async def conversation(
    connect_agent: ConnectAgent, connect_customer: ConnectCustomer, runtime: Runtime
) -> tuple[str, str]:
    """A customer writes, ann accepts and answers; (session id, customer's party id)."""
    ann = await connect_agent("ann")
    customer = await connect_customer()
    await customer.say("My parcel is LATE", name="Dana")
    offer = await ann.expect("offer")
    await ann.accept(offer)
    await customer.say("Are you there?")
    await ann.expect("message", lambda f: f["message"]["text"] == "Are you there?")
    await ann.reply(offer["session_id"], "Yes, looking into it")
    await customer.expect_text("Yes, looking into it")
    assert await session_of(runtime, customer) == offer["session_id"]
    return str(offer["session_id"]), customer.visitor_id


async def test_search_and_transcript(
    client: Client,
    runtime: Runtime,
    connect_customer: ConnectCustomer,
    conversation: tuple[str, str],
) -> None:
    sid, party = conversation
    other = await connect_customer()
    await other.say("just browsing")
    other_sid = await session_of(runtime, other)
    for headers in (
        await auth_headers(client, "acme", "sue"),
        await auth_headers(client, "acme", "root"),
        {"Authorization": f"Bearer {await api_token(client, 'acme')}"},
    ):
        resp = await client.get("/api/v1/sessions", headers=headers)
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        assert (body["total"], body["limit"], body["offset"]) == (2, 50, 0)
        assert [item["id"] for item in body["items"]] == [other_sid, sid]
        assert "history" not in body["items"][0]
    headers = await auth_headers(client, "acme", "sue")

    async def found(**query: str) -> list[str]:
        resp = await client.get("/api/v1/sessions", params=query, headers=headers)
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        assert body["total"] == len(body["items"])
        return [item["id"] for item in body["items"]]

    assert await found(agent="ann") == [sid]
    assert await found(q="late") == [sid]
    assert await found(q="looking INTO") == [sid]
    assert await found(q="browsing") == [other_sid]
    assert await found(party=party) == [sid]
    assert await found(queue="support", state="open", stream="web", channel="webchat") == [
        other_sid,
        sid,
    ]
    assert await found(state="closed") == []
    assert await found(queue="billing") == []
    assert await found(created_to="2000-01-01") == []
    assert await found(created_from="2000-01-01T00:00:00Z", agent="ann") == [sid]
    page = await (await client.get("/api/v1/sessions?limit=1&offset=1", headers=headers)).json()
    assert (page["total"], [i["id"] for i in page["items"]]) == (2, [sid])

    resp = await client.get(f"/api/v1/sessions/{sid}/transcript", headers=headers)
    assert resp.status == 200
    transcript = await resp.json()
    assert transcript["session_id"] == sid
    messages = transcript["messages"]
    assert [m["seq"] for m in messages] == [1, 2, 3]
    assert [m["text"] for m in messages] == [
        "My parcel is LATE",
        "Are you there?",
        "Yes, looking into it",
    ]
    assert [m["direction"] for m in messages] == ["inbound", "inbound", "outbound"]
    assert [m["sender"]["kind"] for m in messages] == ["customer", "customer", "agent"]
    assert messages[2]["sender"]["id"] == "ann"
    assert messages[0]["status"] == "received"
    assert messages[0]["at"] <= messages[1]["at"] <= messages[2]["at"]

    resp = await client.get(f"/api/v1/sessions/{sid}/transcript?format=text", headers=headers)
    assert resp.status == 200
    assert resp.content_type == "text/plain"
    text = await resp.text()
    lines = text.splitlines()
    assert sid in lines[0]
    assert party in lines[0]
    body_lines = [line for line in lines if " <- " in line or " -> " in line]
    assert len(body_lines) == 3
    assert body_lines[0].endswith("customer (Dana): My parcel is LATE [received]")
    assert " -> agent (" in body_lines[2]
    assert "Yes, looking into it" in body_lines[2]


async def test_agents_use_the_socket_not_the_search(
    client: Client, conversation: tuple[str, str]
) -> None:
    sid, _ = conversation
    headers = await auth_headers(client, "acme", "ann")
    for path in ("/api/v1/sessions", f"/api/v1/sessions/{sid}/transcript"):
        resp = await client.get(path, headers=headers)
        assert resp.status == 403
        assert (await resp.json())["error"]["code"] == "forbidden"
    assert (await client.get("/api/v1/sessions")).status == 401


async def test_another_tenant_sees_nothing(client: Client, conversation: tuple[str, str]) -> None:
    sid, party = conversation
    headers = await auth_headers(client, "globex", "sue")
    body = await (await client.get("/api/v1/sessions", headers=headers)).json()
    assert (body["total"], body["items"]) == (0, [])
    body = await (await client.get(f"/api/v1/sessions?party={party}", headers=headers)).json()
    assert body["total"] == 0
    resp = await client.get(f"/api/v1/sessions/{sid}/transcript", headers=headers)
    assert resp.status == 404


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("state=gone", "state"),
        ("channel=pigeon", "channel"),
        ("created_from=yesterday", "created_from"),
        ("created_to=2026-13-01", "created_to"),
        ("limit=0", "limit"),
        ("offset=-1", "offset"),
        ("q=" + "x" * 201, "q"),
    ],
)
async def test_bad_filters_answer_400_naming_them(client: Client, query: str, field: str) -> None:
    headers = await auth_headers(client, "acme", "sue")
    resp = await client.get(f"/api/v1/sessions?{query}", headers=headers)
    assert resp.status == 400
    assert (await resp.json())["error"]["field"] == field


async def test_bad_transcript_format(client: Client) -> None:
    headers = await auth_headers(client, "acme", "sue")
    resp = await client.get("/api/v1/sessions/nope/transcript?format=pdf", headers=headers)
    assert (resp.status, (await resp.json())["error"]["field"]) == (400, "format")
    resp = await client.get("/api/v1/sessions/nope/transcript", headers=headers)
    assert resp.status == 404


async def test_admin_console_transcript_pages(
    client: Client, conversation: tuple[str, str]
) -> None:
    sid, party = conversation
    for user in ("sue", "root"):
        await signed_in(client, user)
        html = await (await client.get("/admin")).text()
        assert 'href="/admin/transcripts"' in html
        resp = await client.get("/admin/transcripts", params={"q": "late", "agent": "ann"})
        html = await resp.text()
        assert resp.status == 200
        assert f'data-testid="session-{sid}"' in html
        assert party in html
        html = await (await client.get("/admin/transcripts", params={"q": "nothing"})).text()
        assert f'data-testid="session-{sid}"' not in html
        assert "No matching conversations." in html
        resp = await client.get(f"/admin/transcripts/{sid}")
        html = await resp.text()
        assert resp.status == 200
        assert html.index("My parcel is LATE") < html.index("Are you there?")
        assert html.index("Are you there?") < html.index("Yes, looking into it")
    resp = await client.get("/admin/transcripts", params={"created_from": "soon"})
    assert resp.status == 400
    assert "created_from" in await resp.text()
    # Another tenant's console does not find it.
    await signed_in(client, "root", "globex")
    assert (await client.get(f"/admin/transcripts/{sid}")).status == 404
    html = await (await client.get("/admin/transcripts")).text()
    assert sid not in html


async def test_sessions_an_earlier_version_wrote_are_found_once_started(
    aiohttp_client: Callable[[web.Application], Awaitable[Client]],
    config_data: dict[str, Any],
    settings: Settings,
) -> None:
    """A store with sessions but no search indexes (as an earlier version left it): the
    process that starts indexes them in the background, and the search finds them."""
    store = RedisStore(MemoryRedis())
    sid = (await Desk(store, Clock()).inbound("p1", text="Where is my order?")).session_id
    await store.client.delete(*[key async for key in store.client.scan_iter("sb:*:sx:*")])
    app = create_app(settings, Config.parse(config_data), store=store, broker=InMemoryBroker())
    client = await aiohttp_client(app)
    headers = await auth_headers(client, "acme", "sue")

    async def found() -> bool:
        resp = await client.get("/api/v1/sessions", headers=headers, params={"q": "order"})
        assert resp.status == 200, await resp.text()
        return [item["id"] for item in (await resp.json())["items"]] == [sid]

    await eventually(found, "the earlier version's session is found by the search")
    assert await store.client.exists(DONE_KEY)
