"""Signed event webhooks (router.event_bus): subscriptions, signing, retries, delivery log."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from queues.memory import InMemoryBroker
from router import event_bus
from router.runtime import Runtime
from tests.clients import AgentClient, CustomerClient, eventually
from tests.router.conftest import agent, tenant, token

ConnectAgent = Callable[..., Awaitable[AgentClient]]
ConnectCustomer = Callable[..., Awaitable[CustomerClient]]
Client = TestClient[Any, Any]
PATH = "/api/v1/event-subscriptions"


def verify_signature(
    secret: str, headers: Mapping[str, str], body: bytes, tolerance: float = 300
) -> bool:
    """The receiver's check, exactly as docs/event-webhooks.md tells integrators to write it."""
    timestamp = headers.get("Switchboard-Timestamp", "")
    signature = headers.get("Switchboard-Signature", "")
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance:
        return False
    signed = timestamp.encode() + b"." + body
    expected = "v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def events_idle(broker: object) -> bool:
    """No event delivery running, waiting or scheduled for a retry (InMemoryBroker internals)."""
    assert isinstance(broker, InMemoryBroker)
    queue = broker._queues[event_bus.QUEUE]
    return not queue.ready and not broker._timers and not any(s._unfinished for s in queue.subs)


class Receiver:
    """An integrator's endpoint: verifies, records, answers with scripted status codes."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self.script: list[int] = []
        # (path, delivery id header, status answered, verified, payload)
        self.attempts: list[tuple[str, str, int, bool, dict[str, Any]]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        ok = verify_signature(self.secrets.get(request.path, ""), request.headers, body)
        status = (self.script.pop(0) if self.script else 200) if ok else 401
        payload = json.loads(body)
        event_id = request.headers.get("Switchboard-Event-Id", "")
        self.attempts.append((request.path, event_id, status, ok, payload))
        return web.Response(status=status)

    def delivered(self, path: str = "/hook") -> list[dict[str, Any]]:
        """Payloads answered 2xx, de-duplicated by delivery id as receivers should."""
        seen: dict[str, dict[str, Any]] = {}
        for p, event_id, status, ok, payload in self.attempts:
            if p == path and ok and 200 <= status < 300:
                seen.setdefault(event_id, payload)
        return list(seen.values())


@pytest.fixture
def config_data() -> dict[str, Any]:
    acme = tenant("acme")
    acme["agents"] = [*acme["agents"], agent("root", role="tenant_admin", queues=[])]
    globex = tenant("globex")
    globex["agents"] = [*globex["agents"], agent("root", role="tenant_admin", queues=[])]
    return {"tenants": [acme, globex]}


@pytest.fixture(name="receiver")
async def receiver_fixture(
    aiohttp_server: Callable[[web.Application], Awaitable[TestServer]],
) -> tuple[Receiver, TestServer]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/{name}", rec.handle)
    return rec, await aiohttp_server(app)


@pytest.fixture
def fast_retries(runtime: Runtime) -> Runtime:
    runtime.events.backoff_base = 0.01
    return runtime


async def admin_headers(client: Client, tenant_id: str = "acme") -> dict[str, str]:
    return {"Authorization": f"Bearer {await token(client, tenant_id, 'root')}"}


async def subscribe(
    client: Client, rec: tuple[Receiver, TestServer], events: list[str], path: str = "/hook",
    tenant_id: str = "acme",
) -> dict[str, Any]:  # fmt: skip
    receiver, server = rec
    resp = await client.post(
        PATH,
        json={"url": str(server.make_url(path)), "events": events},
        headers=await admin_headers(client, tenant_id),
    )
    assert resp.status == 201, await resp.text()
    created: dict[str, Any] = await resp.json()
    receiver.secrets[path] = created["secret"]
    return created


async def test_subscription_crud_shows_the_secret_once(
    client: Client, receiver: tuple[Receiver, TestServer]
) -> None:
    headers = await admin_headers(client)
    url = str(receiver[1].make_url("/hook"))
    resp = await client.post(PATH, json={"url": url, "events": ["*"]}, headers=headers)
    assert resp.status == 201
    created = await resp.json()
    assert created["secret"].startswith("whsec_")
    assert len(created["secret"]) > 30
    assert created["events"] == ["*"]
    assert created["enabled"] is True

    one = await (await client.get(f"{PATH}/{created['id']}", headers=headers)).json()
    assert "secret" not in one
    assert one["secret_set"] is True
    listed = await (await client.get(PATH, headers=headers)).json()
    assert listed["total"] == 1
    assert "secret" not in listed["items"][0]

    resp = await client.patch(
        f"{PATH}/{created['id']}",
        json={"events": ["message.sent"], "enabled": False, "secret": "x" * 20},
        headers=headers,
    )
    assert resp.status == 200
    patched = await resp.json()
    assert patched["events"] == ["message.sent"]
    assert patched["enabled"] is False
    assert "secret" not in patched
    stored = await (await client.get(f"{PATH}/{created['id']}", headers=headers)).json()
    assert stored == patched

    given = await client.post(
        PATH, json={"url": url, "events": ["queue.status"], "secret": "y" * 24}, headers=headers
    )
    assert (await given.json())["secret"] == "y" * 24

    for bad, field in (
        ({"url": "ftp://example.com/x", "events": ["*"]}, "url"),
        ({"url": url, "events": ["conversation.exploded"]}, "events"),
        ({"url": url, "events": []}, "events"),
        ({"url": url, "events": ["*"], "extra": 1}, "extra"),
    ):
        resp = await client.post(PATH, json=bad, headers=headers)
        assert resp.status == 400
        assert (await resp.json())["error"]["field"] == field

    agent_headers = {"Authorization": f"Bearer {await token(client, 'acme', 'ann')}"}
    assert (await client.get(PATH, headers=agent_headers)).status == 403
    other = await admin_headers(client, "globex")
    assert (await client.get(f"{PATH}/{created['id']}", headers=other)).status == 404

    assert (await client.delete(f"{PATH}/{created['id']}", headers=headers)).status == 204
    assert (await client.get(f"{PATH}/{created['id']}", headers=headers)).status == 404
    assert (await (await client.get(PATH, headers=headers)).json())["total"] == 1


async def test_a_web_chat_conversation_in_events(
    client: Client,
    receiver: tuple[Receiver, TestServer],
    connect_agent: ConnectAgent,
    connect_customer: ConnectCustomer,
) -> None:
    rec = receiver[0]
    await subscribe(client, receiver, ["*"])
    await subscribe(client, receiver, ["message.received", "conversation.closed"], path="/only")
    ann = await connect_agent("ann")
    customer = await connect_customer()
    await customer.say("Where is my parcel?")
    offer = await ann.expect("offer")
    sid = offer["session_id"]
    await ann.accept(offer)
    await ann.reply(sid, "On its way")
    await customer.expect_text("On its way")

    async def sent() -> bool:
        return any(e["type"] == "message.sent" for e in rec.delivered())

    await eventually(sent, "message.sent")  # then close: created_at orders the two
    await ann.send({"type": "close", "session_id": sid})

    expected = [
        "conversation.created",
        "message.received",
        "conversation.queued",
        "conversation.offered",
        "conversation.assigned",
        "message.sent",
        "conversation.closed",
    ]

    def of_session(path: str) -> list[dict[str, Any]]:
        got = [e for e in rec.delivered(path) if e["data"].get("session_id") == sid]
        return sorted(got, key=lambda e: str(e["created_at"]))

    async def all_in() -> bool:
        return len(of_session("/hook")) == len(expected) and len(of_session("/only")) == 2

    await eventually(all_in, "the conversation's events")
    events = of_session("/hook")
    assert [e["type"] for e in events] == expected
    assert all(e["tenant"] == "acme" for e in events)
    received = events[1]["data"]
    assert received["message"]["text"] == "Where is my parcel?"
    assert received["seq"] == 1
    assert events[3]["data"]["agent"] == "ann"
    assert events[3]["data"]["queue"] == "support"
    assert events[5]["data"]["message"]["text"] == "On its way"
    assert [e["type"] for e in of_session("/only")] == ["message.received", "conversation.closed"]
    # The agent going ready is an event too (no session).
    assert any(
        e["type"] == "agent.state_changed" and e["data"] == {
            "agent": "ann", "state": "ready", "reason": None}
        for e in rec.delivered()
    )  # fmt: skip
    # Headers and body agree on the delivery id; every request verified.
    assert all(ok and payload["id"] == eid for _, eid, _, ok, payload in rec.attempts)


async def test_a_5xx_is_retried_with_the_same_delivery_id(
    client: Client,
    receiver: tuple[Receiver, TestServer],
    fast_retries: Runtime,
    connect_customer: ConnectCustomer,
) -> None:
    rec = receiver[0]
    sub = await subscribe(client, receiver, ["message.received"])
    rec.script = [500]
    customer = await connect_customer()
    await customer.say("hello")

    async def delivered() -> bool:
        return len(rec.delivered()) == 1

    await eventually(delivered, "the retried delivery")
    assert [(status, eid) for _, eid, status, _, _ in rec.attempts] == [
        (500, rec.attempts[0][1]),
        (200, rec.attempts[0][1]),
    ]
    assert len(rec.delivered()) == 1
    assert rec.delivered()[0]["type"] == "message.received"
    log = await client.get(f"{PATH}/{sub['id']}/deliveries", headers=await admin_headers(client))
    items = (await log.json())["items"]
    assert [(i["attempt"], i["outcome"], i["status_code"]) for i in items] == [
        (2, "delivered", 200),
        (1, "retrying", 500),
    ]
    assert {i["delivery_id"] for i in items} == {rec.attempts[0][1]}
    assert all(i["event_type"] == "message.received" and i["duration_ms"] >= 0 for i in items)


async def test_a_4xx_fails_without_retry(
    client: Client,
    receiver: tuple[Receiver, TestServer],
    fast_retries: Runtime,
    connect_customer: ConnectCustomer,
) -> None:
    rec = receiver[0]
    sub = await subscribe(client, receiver, ["message.received"])
    rec.script = [400]
    customer = await connect_customer()
    await customer.say("hello")

    async def tried() -> bool:
        return len(rec.attempts) == 1

    await eventually(tried, "the delivery attempt")

    async def settled() -> bool:
        return events_idle(fast_retries.broker)

    await eventually(settled, "the event queue to settle")
    assert len(rec.attempts) == 1
    assert rec.delivered() == []
    assert await fast_retries.broker.dead_letters(event_bus.QUEUE) == []
    log = await client.get(f"{PATH}/{sub['id']}/deliveries", headers=await admin_headers(client))
    items = (await log.json())["items"]
    assert [(i["attempt"], i["outcome"], i["status_code"]) for i in items] == [(1, "failed", 400)]


async def test_retries_end_in_the_dead_letter_queue(
    client: Client,
    receiver: tuple[Receiver, TestServer],
    fast_retries: Runtime,
    connect_customer: ConnectCustomer,
) -> None:
    rec = receiver[0]
    await subscribe(client, receiver, ["message.received"])
    rec.script = [503] * event_bus.MAX_ATTEMPTS
    fast_retries.events.backoff_base = 0.001
    customer = await connect_customer()
    await customer.say("hello")

    async def dead() -> bool:
        return len(await fast_retries.broker.dead_letters(event_bus.QUEUE)) == 1

    await eventually(dead, "the delivery to be dead-lettered")
    assert len(rec.attempts) == event_bus.MAX_ATTEMPTS
    assert len({eid for _, eid, _, _, _ in rec.attempts}) == 1


def test_a_tampered_request_fails_verification() -> None:
    secret, body = "whsec_" + "k" * 30, b'{"id":"d1","type":"message.sent"}'
    timestamp = str(int(time.time()))
    headers = {
        "Switchboard-Timestamp": timestamp,
        "Switchboard-Signature": event_bus.sign(secret, timestamp, body),
    }
    assert verify_signature(secret, headers, body)
    assert event_bus.verify(secret, timestamp, body, headers["Switchboard-Signature"])
    assert not verify_signature(secret, headers, body.replace(b"sent", b"failed"))
    assert not verify_signature("whsec_other", headers, body)
    later = {**headers, "Switchboard-Timestamp": str(int(timestamp) + 1)}
    assert not verify_signature(secret, later, body)
    old = str(int(time.time()) - 3600)
    stale = {
        "Switchboard-Timestamp": old,
        "Switchboard-Signature": event_bus.sign(secret, old, body),
    }
    assert not verify_signature(secret, stale, body)


async def test_no_subscriptions_no_publish(
    client: Client,
    runtime: Runtime,
    receiver: tuple[Receiver, TestServer],
    connect_agent: ConnectAgent,
    connect_customer: ConnectCustomer,
) -> None:
    # All but queue.status, which reports the queues whenever a subscription wants it.
    others = [t for t in event_bus.EVENT_TYPES if t != "queue.status"]
    await subscribe(client, receiver, others, tenant_id="globex")
    disabled = await subscribe(client, receiver, others, path="/off")
    resp = await client.patch(
        f"{PATH}/{disabled['id']}", json={"enabled": False}, headers=await admin_headers(client)
    )
    assert resp.status == 200
    ann = await connect_agent("ann")
    customer = await connect_customer()
    await customer.say("anyone?")
    offer = await ann.expect("offer")
    await ann.accept(offer)
    await ann.reply(offer["session_id"], "yes")
    await customer.expect_text("yes")
    await ann.send({"type": "close", "session_id": offer["session_id"]})
    await customer.expect("session_closed")
    assert runtime.events.published == 0
    assert events_idle(runtime.broker)
    assert receiver[0].attempts == []
