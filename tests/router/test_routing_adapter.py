"""The routing adapter's commands as REST calls (router.adapter_api, docs/routing-adapter.md):
route a message, set an agent Ready / Not Ready, and a web chat driven from outside."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from router.routing_adapter import MAX_CHOICES, ChoiceError, parse_choices
from router.runtime import Runtime
from tests.clients import AgentClient, CustomerClient, eventually, first_offer
from tests.router.conftest import agent, api_token, auth_headers, session_of, tenant
from tests.router.test_event_webhooks import (  # noqa: F401 - receiver_fixture is a fixture
    Receiver,
    receiver_fixture,
    subscribe,
)

Client = TestClient[Any, Any]
ConnectAgent = Callable[..., Awaitable[AgentClient]]
ConnectCustomer = Callable[..., Awaitable[CustomerClient]]
ROUTE = "/api/v1/routing/messages"
CHATS = "/api/v1/routing/webchat/sessions"


@pytest.fixture
def config_data() -> dict[str, Any]:
    acme = tenant("acme")
    acme["agents"] = [
        *acme["agents"],
        agent("root", role="tenant_admin", queues=[]),
        agent("zed"),  # only in acme
    ]
    acme["media_streams"] = [
        *acme["media_streams"],
        {"id": "sms", "media": "sms", "queue": "support"},
    ]
    return {"tenants": [acme, tenant("globex")]}


async def api_headers(client: Client, tenant_id: str = "acme") -> dict[str, str]:
    return {"Authorization": f"Bearer {await api_token(client, tenant_id)}"}


async def post(client: Client, path: str, body: dict[str, Any], headers: dict[str, str],
               status: int) -> Any:  # fmt: skip
    resp = await client.post(path, json=body, headers=headers)
    assert resp.status == status, await resp.text()
    return None if status == 204 else await resp.json()


def events_of(rec: Receiver, kind: str, session_id: str) -> list[dict[str, Any]]:
    return [
        e for e in rec.delivered()
        if e["type"] == kind and e["data"].get("session_id") == session_id
    ]  # fmt: skip


async def test_route_message_to_an_entry_point_reaches_an_agent_and_the_reply_comes_back(
    client: Client,
    receiver: tuple[Receiver, TestServer],
    connect_agent: ConnectAgent,
) -> None:
    rec = receiver[0]
    await subscribe(client, receiver, ["message.sent", "conversation.created"])
    ann = await connect_agent("ann")
    headers = await api_headers(client)
    body = {
        "entry_point": "web", "queue": "billing", "text": "My invoice is wrong",
        "sender_name": "Dana", "sender_email": "dana@example.com", "conversation_id": "crm-42",
    }  # fmt: skip
    routed = await post(client, ROUTE, body, headers, 202)
    # The entry point takes precedence over the queue.
    assert routed["entry_point"] == "web"
    assert routed["queue"] == "support"
    assert routed["conversation_id"] == "crm-42"
    sid = routed["session_id"]
    assert sid
    offer = await ann.expect("offer", lambda f: f["session_id"] == sid)
    assigned = await ann.accept(offer)
    assert assigned["session"]["customer"] == {
        "id": "crm-42", "name": "Dana", "email": "dana@example.com"
    }  # fmt: skip
    assert ann.texts(sid) == ["My invoice is wrong"]
    await ann.reply(sid, "Let me check")

    async def replied() -> bool:
        sent = events_of(rec, "message.sent", sid)
        return len(sent) == 1 and len(events_of(rec, "conversation.created", sid)) == 1

    await eventually(replied, "conversation.created, and message.sent for the reply")
    sent = events_of(rec, "message.sent", sid)[0]["data"]["message"]
    assert sent["text"] == "Let me check"
    assert sent["sender"]["kind"] == "agent"
    assert sent["remote_party"]["id"] == "crm-42"
    created = events_of(rec, "conversation.created", sid)
    assert created[0]["data"]["customer"]["email"] == "dana@example.com"
    # The same conversation id continues the session; a retried message id is filed once.
    again = {"entry_point": "web", "text": "Thanks", "conversation_id": "crm-42",
             "message_id": "m-2"}  # fmt: skip
    assert (await post(client, ROUTE, again, headers, 202))["session_id"] == sid
    assert (await post(client, ROUTE, again, headers, 202))["session_id"] == sid
    await ann.wait(lambda: ann.texts(sid) == ["My invoice is wrong", "Thanks"], "Thanks")
    resp = await client.get(f"/api/v1/sessions/{sid}", headers=headers)
    history = [(m["direction"], m["text"]) for m in (await resp.json())["history"]]
    assert history == [
        ("inbound", "My invoice is wrong"), ("outbound", "Let me check"), ("inbound", "Thanks")
    ]  # fmt: skip


async def test_route_message_to_a_queue(
    client: Client, connect_agent: ConnectAgent, runtime: Runtime
) -> None:
    cat = await connect_agent("cat")  # billing only
    headers = await api_headers(client)
    routed = await post(client, ROUTE, {"queue": "billing", "text": "Refund?"}, headers, 202)
    assert routed["queue"] == "billing"
    assert routed["entry_point"] == "queue~billing"
    offer = await cat.expect("offer", lambda f: f["session_id"] == routed["session_id"])
    assert offer["queue"] == "billing"
    await cat.accept(offer)
    assert cat.texts(routed["session_id"]) == ["Refund?"]
    # A queue entry point has no customer chat page.
    assert (await client.get("/chat/acme/queue~billing")).status == 404


async def test_route_message_rejects_bad_input(client: Client) -> None:
    headers = await api_headers(client)
    for body, field in (
        ({"text": "hi"}, "entry_point"),
        ({"entry_point": "nope", "text": "hi"}, "entry_point"),
        ({"entry_point": "sms", "text": "hi"}, "entry_point"),
        ({"queue": "nope", "text": "hi"}, "queue"),
        ({"entry_point": "web"}, "text"),
        ({"entry_point": "web", "text": ""}, "text"),
        ({"entry_point": "web", "text": "hi", "conversation_id": "a b"}, "conversation_id"),
        ({"entry_point": "web", "text": "hi", "colour": "red"}, "colour"),
    ):
        err = await post(client, ROUTE, body, headers, 400)
        assert err["error"]["field"] == field, (body, err)
    agent_headers = await auth_headers(client, "acme", "ann")
    await post(client, ROUTE, {"entry_point": "web", "text": "hi"}, agent_headers, 403)
    admin = await auth_headers(client, "acme", "root")
    await post(client, ROUTE, {"entry_point": "web", "text": "hi"}, admin, 202)


async def test_set_agent_state_ready_and_not_ready_with_a_reason(
    client: Client,
    receiver: tuple[Receiver, TestServer],
    connect_agent: ConnectAgent,
) -> None:
    rec = receiver[0]
    await subscribe(client, receiver, ["agent.state_changed"])
    ann = await connect_agent("ann", ready=False)
    headers = await api_headers(client)
    path = "/api/v1/agents/ann/state"
    resp = await client.put(path, json={"state": "not_ready", "reason": "Lunch"}, headers=headers)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert (body["agent"], body["state"], body["reason"]) == ("ann", "not_ready", "Lunch")
    await ann.expect("state", lambda f: f["reason"] == "Lunch")
    resp = await client.put(path, json={"state": "ready"}, headers=headers)
    assert (await resp.json())["state"] == "ready"
    await ann.expect("state", lambda f: f["state"] == "ready")
    # Routing sees it: a routed message is offered to ann.
    routed = await post(client, ROUTE, {"entry_point": "web", "text": "hi"}, headers, 202)
    await ann.expect("offer", lambda f: f["session_id"] == routed["session_id"])

    async def both_events() -> bool:
        states = [(e["data"]["state"], e["data"]["reason"]) for e in rec.delivered()
                  if e["data"].get("agent") == "ann"]  # fmt: skip
        return ("not_ready", "Lunch") in states and ("ready", None) in states

    await eventually(both_events, "agent.state_changed events")
    # A supervisor may too.
    sue = await auth_headers(client, "acme", "sue")
    resp = await client.put(path, json={"state": "not_ready", "reason": "Break"}, headers=sue)
    assert resp.status == 200


async def test_set_agent_state_refusals(client: Client, connect_agent: ConnectAgent) -> None:
    await connect_agent("ann", ready=False)
    headers = await api_headers(client)
    for body, field in (
        ({"state": "not_ready", "reason": "Nap"}, "reason"),
        ({"state": "ready", "reason": "Lunch"}, "reason"),
        ({"state": "logged_out"}, "state"),
        ({}, "state"),
    ):
        resp = await client.put("/api/v1/agents/ann/state", json=body, headers=headers)
        assert resp.status == 400, body
        assert (await resp.json())["error"]["field"] == field
    # Another tenant's agent is no agent of this tenant.
    other = await api_headers(client, "globex")
    resp = await client.put("/api/v1/agents/zed/state", json={"state": "ready"}, headers=other)
    assert resp.status == 404
    assert (await resp.json())["error"]["field"] == "agent_id"
    # Never logged on: nobody to make ready.
    resp = await client.put("/api/v1/agents/ben/state", json={"state": "ready"}, headers=headers)
    assert resp.status == 409
    ann = await auth_headers(client, "acme", "ann")
    resp = await client.put("/api/v1/agents/ann/state", json={"state": "ready"}, headers=ann)
    assert resp.status == 403


async def test_web_chat_request_accept_message_choice_leave(
    client: Client,
    receiver: tuple[Receiver, TestServer],
    connect_agent: ConnectAgent,
) -> None:
    rec = receiver[0]
    await subscribe(client, receiver, ["message.sent", "conversation.closed"])
    ann = await connect_agent("ann")
    headers = await api_headers(client)
    request = {"entry_point": "web", "name": "Eve", "email": "eve@example.com",
               "text": "Hello?", "conversation_id": "chat-7"}  # fmt: skip
    sid = (await post(client, CHATS, request, headers, 202))["session_id"]
    offer = await ann.expect("offer", lambda f: f["session_id"] == sid)
    # Accept on the agent's behalf: the agent's desktop gets the conversation.
    mark = len(ann.frames)
    accepted = await post(client, f"{CHATS}/{sid}/accept", {"agent": "ann"}, headers, 200)
    assert (accepted["state"], accepted["agent"]) == ("assigned", "ann")
    await ann.expect("assigned", lambda f: f["session"]["id"] == sid, after=mark)
    assert offer["customer"]["name"] == "Eve"
    # Customer -> agent.
    said = {"sender": "customer", "text": "Is my order shipped?"}
    assert (await post(client, f"{CHATS}/{sid}/messages", said, headers, 202))["session_id"] == sid
    await ann.wait(lambda: "Is my order shipped?" in ann.texts(sid), "the customer's message")
    # Agent -> customer: filed as ann's, shown on her desktop, out as message.sent.
    reply = {"sender": "agent", "text": "Yes, yesterday", "message_id": "r-1"}
    filed = await post(client, f"{CHATS}/{sid}/messages", reply, headers, 201)
    assert (filed["sender"]["kind"], filed["sender"]["id"]) == ("agent", "ann")
    await ann.expect("message", lambda f: f["message"].get("client_id") == "r-1")
    # A choice.
    choice = {"options": "Yes|No|Not sure", "text": "Anything else?"}
    filed = await post(client, f"{CHATS}/{sid}/choices", choice, headers, 201)
    assert filed["choices"] == ["Yes", "No", "Not sure"]

    async def both_sent() -> bool:
        return len(events_of(rec, "message.sent", sid)) == 2

    await eventually(both_sent, "message.sent for the reply and the choice")
    sent = {e["data"]["message"]["text"]: e["data"]["message"]
            for e in events_of(rec, "message.sent", sid)}  # fmt: skip
    assert sent["Yes, yesterday"]["choices"] == []
    assert sent["Anything else?"]["choices"] == ["Yes", "No", "Not sure"]
    # The customer leaves: the conversation closes, the agent is told.
    await post(client, f"{CHATS}/{sid}/leave", {}, headers, 204)
    closed = await ann.expect("session_closed", lambda f: f["session_id"] == sid)
    assert closed["reason"] == "customer"

    async def closed_event() -> bool:
        return len(events_of(rec, "conversation.closed", sid)) == 1

    await eventually(closed_event, "conversation.closed")
    assert events_of(rec, "conversation.closed", sid)[0]["data"]["reason"] == "customer"
    session = await (await client.get(f"/api/v1/sessions/{sid}", headers=headers)).json()
    assert session["state"] == "closed"
    # Nothing more for the agent to write in it.
    await post(client, f"{CHATS}/{sid}/messages", reply, headers, 409)


async def test_web_chat_reject_offers_the_next_agent(
    client: Client, connect_agent: ConnectAgent
) -> None:
    ann, ben = await connect_agent("ann"), await connect_agent("ben")
    headers = await api_headers(client)
    request = {"entry_point": "web", "name": "Fay", "text": "hi"}
    sid = (await post(client, CHATS, request, headers, 202))["session_id"]
    first, offer = await first_offer(ann, ben)
    other, first_id = (ben, "ann") if first is ann else (ann, "ben")
    other_id = "ben" if first_id == "ann" else "ann"
    # Only the offered agent may answer.
    err = await post(client, f"{CHATS}/{sid}/accept", {"agent": other_id}, headers, 409)
    assert err["error"]["code"] == "offer_not_available"
    await post(client, f"{CHATS}/{sid}/accept", {"agent": "nobody"}, headers, 404)
    rejected = await post(client, f"{CHATS}/{sid}/reject", {"agent": first_id}, headers, 200)
    assert rejected["state"] in ("queued", "offered")
    await first.expect("offer_expired", lambda f: f["offer_id"] == offer["offer_id"])
    await other.expect("offer", lambda f: f["session_id"] == sid)
    # Another tenant's session does not exist for this tenant.
    globex = await api_headers(client, "globex")
    await post(client, f"{CHATS}/{sid}/accept", {"agent": other_id}, globex, 404)


async def test_a_choice_reaches_the_web_chat_customer(
    client: Client,
    runtime: Runtime,
    connect_agent: ConnectAgent,
    connect_customer: ConnectCustomer,
) -> None:
    ann = await connect_agent("ann")
    customer = await connect_customer()
    await customer.say("Which plan?")
    sid = await session_of(runtime, customer)
    await ann.accept(await ann.expect("offer"))
    headers = await api_headers(client)
    await post(client, f"{CHATS}/{sid}/choices", {"options": r"Basic|Pro \| Plus"}, headers, 201)
    got = await customer.expect("message", lambda f: bool(f["message"]["choices"]))
    assert got["message"]["choices"] == ["Basic", "Pro | Plus"]
    assert got["message"]["sender"]["kind"] == "agent"


async def test_bad_choice_lists_answer_400_naming_options(
    client: Client, runtime: Runtime, connect_customer: ConnectCustomer
) -> None:
    customer = await connect_customer()
    await customer.say("hello")
    sid = await session_of(runtime, customer)
    headers = await api_headers(client)
    too_many = "|".join(f"o{i}" for i in range(MAX_CHOICES + 1))
    for options in ("", "a||b", "a|", " | ", too_many, "a\\b", "x" * 201):
        err = await post(client, f"{CHATS}/{sid}/choices", {"options": options}, headers, 400)
        assert err["error"]["field"] == "options", options
    # Nobody assigned yet: the entry point itself offers the choice.
    filed = await post(client, f"{CHATS}/{sid}/choices", {"options": "A|B"}, headers, 201)
    assert filed["sender"]["kind"] == "system"
    await customer.expect("message", lambda f: f["message"]["choices"] == ["A", "B"])
    await post(client, f"{CHATS}/nope/choices", {"options": "A"}, headers, 404)


def test_parse_choices() -> None:
    assert parse_choices("Yes|No|Maybe") == ("Yes", "No", "Maybe")
    assert parse_choices(" Yes | No ") == ("Yes", "No")
    assert parse_choices("Only") == ("Only",)
    assert parse_choices(r"A\|B|C") == ("A|B", "C")
    assert parse_choices(r"back\\slash|x") == ("back\\slash", "x")
    assert len(parse_choices("|".join("abcdefghij"))) == MAX_CHOICES
    for bad, reason in (
        ("", "option 1 is empty"),
        ("a||b", "option 2 is empty"),
        ("|".join("abcdefghijk"), "at most 10 options"),
        ("a\\", "backslash"),
        ("a\\nb", "backslash"),
    ):
        with pytest.raises(ChoiceError, match=reason):
            parse_choices(bad)
