"""One conversation the whole way: customer -> session -> queue -> agent -> reply -> customer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from router.models import SessionState
from router.runtime import Runtime
from tests.clients import AgentClient, CustomerClient, first_offer

ConnectAgent = Callable[..., Awaitable[AgentClient]]
ConnectCustomer = Callable[..., Awaitable[CustomerClient]]


async def test_customer_to_agent_and_back(
    connect_agent: ConnectAgent, connect_customer: ConnectCustomer, runtime: Runtime
) -> None:
    ann = await connect_agent("ann")
    customer = await connect_customer()
    await customer.say("Hello, my order is late", name="Dana")

    offer = await ann.expect("offer")
    assert offer["customer"]["name"] == "Dana"
    assert [m["text"] for m in offer["history"]] == ["Hello, my order is late"]
    assert offer["expires_in"] > 0

    assigned = await ann.accept(offer)
    assert assigned["session"]["state"] == "assigned"
    await customer.say("Are you there?")
    await ann.expect("message", lambda f: f["message"]["text"] == "Are you there?")

    echo = await ann.reply(offer["session_id"], "Yes, looking into it")
    assert echo["seq"] == 3
    received = await customer.expect_text("Yes, looking into it")
    assert received["message"]["sender"]["kind"] == "agent"

    session = await runtime.store.load_session("acme", offer["session_id"])
    assert session is not None
    assert session.state is SessionState.ASSIGNED
    assert session.agent == "ann"
    assert [m.text for m in session.history] == [
        "Hello, my order is late",
        "Are you there?",
        "Yes, looking into it",
    ]
    assert [m.seq for m in session.history] == [1, 2, 3]


async def test_reject_reoffers_to_the_other_agent(
    connect_agent: ConnectAgent, connect_customer: ConnectCustomer
) -> None:
    ann = await connect_agent("ann")
    ben = await connect_agent("ben")
    customer = await connect_customer()
    await customer.say("hi")
    first, offer = await first_offer(ann, ben)
    other = ben if first is ann else ann
    await first.send(
        {"type": "reject", "session_id": offer["session_id"], "offer_id": offer["offer_id"]}
    )
    await first.expect("offer_expired", lambda f: f["offer_id"] == offer["offer_id"])
    second = await other.expect("offer")
    assert second["session_id"] == offer["session_id"]
    assert second["offer_id"] != offer["offer_id"]
    # Rejecting leaves the agent ready.
    assert first.of("state")[-1]["state"] == "ready"
