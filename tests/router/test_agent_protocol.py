"""Bad input on the agent and customer sockets: each answered with an ``error`` frame, the
socket staying open and usable; and visitor tokens that cannot be forged."""

from __future__ import annotations

import json
from typing import Any

import pytest

from router.models import SessionState
from router.runtime import Runtime
from tests.clients import AgentClient, eventually
from tests.router.conftest import (
    ConnectAgent,
    ConnectCustomer,
    history_texts,
    session_of,
    tenant,
)

QUEUES = [
    {"id": "support", "offer_timeout_seconds": 30},
    {"id": "billing", "offer_timeout_seconds": 30},
]


@pytest.fixture
def config_data() -> dict[str, Any]:
    # Offers stay open long enough that nothing here depends on how fast the test runs.
    return {"tenants": [tenant("acme", queues=QUEUES), tenant("globex", queues=QUEUES)]}


async def still_usable(agent: AgentClient) -> None:
    """The socket is open and the server still answers commands on it."""
    assert not agent.ws.closed
    frame = await agent.set_state("not_ready", "Break")
    assert frame["reason"] == "Break"
    assert not agent.ws.closed


# -- agent socket: frames the server cannot use -------------------------------------------

BAD_FRAMES: list[tuple[str, str | bytes | dict[str, Any], str, str | None, str]] = [
    ("not-json", "{this is not json", "malformed", None, ""),
    ("json-array", "[1, 2, 3]", "malformed", None, ""),
    ("json-string", json.dumps("set_state"), "malformed", None, ""),
    ("json-null", "null", "malformed", None, ""),
    ("binary", b"\x00\x01binary", "malformed", None, ""),
    ("no-type", {"state": "ready"}, "unknown_type", None, ""),
    ("unknown-type", {"type": "dance"}, "unknown_type", "dance", "dance"),
    ("type-not-a-string", {"type": 7}, "unknown_type", None, ""),
    ("missing-offer-id", {"type": "accept", "session_id": "s1"}, "invalid_frame", "accept",
     "offer_id"),
    ("missing-session-id", {"type": "close"}, "invalid_frame", "close", "session_id"),
    ("bad-state", {"type": "set_state", "state": "asleep"}, "invalid_frame", "set_state",
     "state"),
    ("oversized-text", {"type": "send", "session_id": "s1", "text": "x" * 10_001},
     "invalid_frame", "send", "text"),
    ("unknown-member", {"type": "close", "session_id": "s1", "force": True}, "invalid_frame",
     "close", "force"),
    ("transfer-nowhere", {"type": "transfer", "session_id": "s1"}, "invalid_frame", "transfer",
     ""),
    ("empty-send", {"type": "send", "session_id": "s1"}, "empty_message", "send", ""),
    ("accept-unknown-offer", {"type": "accept", "session_id": "nope", "offer_id": "nope"},
     "offer_not_available", "accept", ""),
    ("reject-unknown-offer", {"type": "reject", "session_id": "nope", "offer_id": "nope"},
     "offer_not_available", "reject", ""),
    ("send-unknown-session", {"type": "send", "session_id": "nope", "text": "hi"}, "not_found",
     "send", ""),
    ("close-unknown-session", {"type": "close", "session_id": "nope"}, "not_found", "close", ""),
    ("transfer-unknown-session", {"type": "transfer", "session_id": "nope", "queue": "billing"},
     "not_found", "transfer", ""),
]  # fmt: skip


@pytest.mark.parametrize(
    ("frame", "code", "ref", "mentions"),
    [case[1:] for case in BAD_FRAMES],
    ids=[case[0] for case in BAD_FRAMES],
)
async def test_bad_agent_frame_gets_an_error_and_the_socket_stays_usable(
    connect_agent: ConnectAgent,
    frame: str | bytes | dict[str, Any],
    code: str,
    ref: str | None,
    mentions: str,
) -> None:
    ann = await connect_agent("ann", ready=False)
    error = await ann.expect_error(frame)
    assert error["code"] == code
    assert error["ref"] == ref
    assert isinstance(error["message"], str)
    assert error["message"]
    assert mentions in error["message"]
    await still_usable(ann)


async def test_many_bad_frames_in_a_row_do_not_wear_the_socket_out(
    connect_agent: ConnectAgent,
) -> None:
    ann = await connect_agent("ann", ready=False)
    codes = [(await ann.expect_error(case[1]))["code"] for case in BAD_FRAMES]
    assert codes == [case[2] for case in BAD_FRAMES]
    await still_usable(ann)


# -- agent socket: sessions that are not yours ----------------------------------------------


async def test_only_the_assigned_agent_may_write_close_or_transfer(
    connect_agent: ConnectAgent, connect_customer: ConnectCustomer, runtime: Runtime
) -> None:
    ann = await connect_agent("ann")
    ben = await connect_agent("ben", ready=False)
    customer = await connect_customer()
    await customer.say("Hi, it's about my order")
    offer = await ann.expect("offer")
    session_id = offer["session_id"]
    ids = {"session_id": session_id, "offer_id": offer["offer_id"]}

    # Merely being offered the session is not enough to write in it.
    error = await ann.expect_error({"type": "send", "session_id": session_id, "text": "early"})
    assert (error["code"], error["ref"]) == ("not_assigned", "send")
    # Nobody else can take someone else's offer.
    error = await ben.expect_error({"type": "accept", **ids})
    assert (error["code"], error["ref"]) == ("offer_not_available", "accept")
    error = await ben.expect_error({"type": "reject", **ids})
    assert error["code"] == "offer_not_available"

    await ann.accept(offer)
    before = await runtime.store.load_session("acme", session_id)
    assert before is not None
    attempts: list[dict[str, Any]] = [
        {"type": "send", "session_id": session_id, "text": "I'll take it from here"},
        {"type": "close", "session_id": session_id},
        {"type": "transfer", "session_id": session_id, "queue": "billing"},
        {"type": "transfer", "session_id": session_id, "agent": "cat"},
    ]
    for frame in attempts:
        error = await ben.expect_error(frame)
        assert (error["code"], error["ref"]) == ("not_assigned", frame["type"])
    # A second accept of an answered offer fails too, even for its agent.
    error = await ann.expect_error({"type": "accept", **ids})
    assert error["code"] == "offer_not_available"

    after = await runtime.store.load_session("acme", session_id)
    assert after == before
    assert after is not None
    assert (after.state, after.agent) == (SessionState.ASSIGNED, "ann")
    assert ben.of("assigned") == []
    await still_usable(ben)
    # The rightful agent still works normally.
    await ann.reply(session_id, "How can I help?")
    await customer.expect_text("How can I help?")
    assert [m["message"]["text"] for m in customer.of("message")] == ["How can I help?"]


async def test_transfer_to_self_and_to_unknown_targets(
    connect_agent: ConnectAgent, connect_customer: ConnectCustomer, runtime: Runtime
) -> None:
    ann = await connect_agent("ann")
    customer = await connect_customer()
    await customer.say("transfer me")
    offer = await ann.expect("offer")
    await ann.accept(offer)
    session_id = offer["session_id"]
    cases = [
        ({"agent": "ann"}, "transfer_to_self"),
        ({"agent": "nobody"}, "not_found"),
        ({"queue": "nowhere"}, "not_found"),
    ]
    for target, code in cases:
        error = await ann.expect_error({"type": "transfer", "session_id": session_id, **target})
        assert (error["code"], error["ref"]) == (code, "transfer")
    session = await runtime.store.load_session("acme", session_id, with_history=False)
    assert session is not None
    assert (session.state, session.agent, session.queue) == (
        SessionState.ASSIGNED,
        "ann",
        "support",
    )
    assert ann.of("session_closed") == []


# -- customer socket ------------------------------------------------------------------------

BAD_CUSTOMER_FRAMES: list[tuple[str, str | bytes | dict[str, Any]]] = [
    ("not-json", "{oops"),
    ("json-array", "[]"),
    ("binary", b"\x00\x01"),
    ("unknown-type", {"type": "typing"}),
    ("no-id", {"type": "message", "text": "hello"}),
    ("empty-text", {"type": "message", "id": "m1", "text": ""}),
    ("too-long", {"type": "message", "id": "m1", "text": "x" * 4001}),
    ("bad-email", {"type": "message", "id": "m1", "text": "hi", "email": "e" * 201}),
]


@pytest.mark.parametrize(
    "frame", [case[1] for case in BAD_CUSTOMER_FRAMES], ids=[c[0] for c in BAD_CUSTOMER_FRAMES]
)
async def test_bad_customer_frame_gets_an_error_and_is_not_filed(
    connect_customer: ConnectCustomer, runtime: Runtime, frame: str | bytes | dict[str, Any]
) -> None:
    customer = await connect_customer()
    error = await customer.expect_error(frame)
    assert error["code"] == "invalid_frame"
    assert error["message"]
    assert customer.of("ack") == []
    assert not customer.ws.closed

    # Still usable, and only the good message was filed.
    await customer.say("a proper message")
    session_id = await session_of(runtime, customer)

    async def filed() -> bool:
        return bool(await history_texts(runtime, "acme", session_id))

    await eventually(filed, "the good message to be filed")
    assert await history_texts(runtime, "acme", session_id) == ["a proper message"]


# -- visitor tokens -------------------------------------------------------------------------


def tampered(token: str) -> list[str]:
    visitor, mac = token.split(".", 1)
    flipped = ("0" if mac[0] != "0" else "1") + mac[1:]
    assert flipped != mac
    return [
        f"{visitor}.{flipped}",  # wrong signature
        f"{visitor}.",  # no signature
        visitor,  # bare visitor id
        f"{visitor}.{mac}0",  # longer signature
        f"{visitor[:-1]}{'0' if visitor[-1] != '0' else '1'}.{mac}",  # someone else, same mac
    ]


async def test_tampered_visitor_token_gets_a_new_visitor_without_history(
    connect_customer: ConnectCustomer, runtime: Runtime
) -> None:
    alice = await connect_customer()
    await alice.say("my card number is 4242")
    session_id = await session_of(runtime, alice)

    async def filed() -> bool:
        return bool(await history_texts(runtime, "acme", session_id))

    await eventually(filed, "alice's message to be filed")

    # The genuine token brings Alice back to her conversation...
    back = await connect_customer(visitor=alice.visitor_token)
    assert back.welcome["visitor"] == alice.visitor_token
    assert back.welcome["session_id"] == session_id
    assert [m["text"] for m in back.welcome["history"]] == ["my card number is 4242"]

    # ...a forged one does not.
    for forged in tampered(alice.visitor_token):
        intruder = await connect_customer(visitor=forged)
        assert intruder.visitor_id != alice.visitor_id, forged
        assert intruder.welcome["session_id"] is None, forged
        assert intruder.welcome["history"] == [], forged
        await intruder.close()

    # Nor does Alice's token on another tenant's chat.
    elsewhere = await connect_customer("globex", visitor=alice.visitor_token)
    assert elsewhere.visitor_id != alice.visitor_id
    assert elsewhere.welcome["history"] == []

    # What an intruder writes goes to a conversation of its own.
    intruder = await connect_customer(visitor=tampered(alice.visitor_token)[0])
    await intruder.say("let me in")
    own = await session_of(runtime, intruder)
    assert own != session_id
    assert await history_texts(runtime, "acme", session_id) == ["my card number is 4242"]
    assert alice.of("message") == []
