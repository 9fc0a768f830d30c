"""Routing: offers and their expiry, readiness, capacity, idle order, transfers, closes,
reopening, inactivity, duplicates, per-session order and queue statistics."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from router.models import AgentState, SessionState
from router.routing import WaitingLine
from router.runtime import Runtime
from router.settings import Settings
from router.store.base import SCHED_KEY, tenant_prefix
from tests.clients import TIMEOUT, AgentClient, CustomerClient, eventually, first_offer
from tests.router.conftest import (
    ConnectAgent,
    ConnectCustomer,
    api_token,
    history_texts,
    session_of,
    tenant,
)

# Short enough that expiry tests are quick, with ample time left to accept an offer.
OFFER_TIMEOUT = 1.0


def with_offer_timeout(data: dict[str, Any]) -> dict[str, Any]:
    data["queues"] = [
        {"id": "support", "offer_timeout_seconds": OFFER_TIMEOUT},
        {"id": "billing", "offer_timeout_seconds": 5},
    ]
    return data


@pytest.fixture
def config_data() -> dict[str, Any]:
    return {"tenants": [with_offer_timeout(tenant("acme")), with_offer_timeout(tenant("globex"))]}


async def held_in_line(
    runtime: Runtime, session_id: str, tenant_id: str = "acme", queue: str = "support"
) -> WaitingLine:
    """Wait until the session is queued in the store and the queue's dispatcher holds it."""
    line = runtime.dispatcher.lines[(tenant_id, queue)]

    async def held() -> bool:
        session = await runtime.store.load_session(tenant_id, session_id, with_history=False)
        return (
            session is not None
            and session.state is SessionState.QUEUED
            and session.queue == queue
            and session_id in line.items
        )

    await eventually(held, f"session {session_id} to wait in {queue}")
    return line


async def assert_still_queued(runtime: Runtime, session_id: str, tenant_id: str = "acme") -> None:
    session = await runtime.store.load_session(tenant_id, session_id, with_history=False)
    assert session is not None
    assert session.state is SessionState.QUEUED
    assert session.offer is None
    assert session.agent is None


async def assigned_to(
    agent: AgentClient, customer: CustomerClient, runtime: Runtime, text: str = "hello"
) -> str:
    """The customer writes, ``agent`` (the only free one) accepts; the session id."""
    mark = len(agent.frames)
    await customer.say(text)
    offer = await agent.expect("offer", after=mark)
    await agent.accept(offer)
    return str(offer["session_id"])


# -- offers -------------------------------------------------------------------------------


async def test_unanswered_offer_expires_sets_missed_offer_and_goes_to_next_agent(
    connect_agent: ConnectAgent, connect_customer: ConnectCustomer, runtime: Runtime
) -> None:
    ann = await connect_agent("ann")
    ben = await connect_agent("ben")
    customer = await connect_customer()
    await customer.say("Is anyone there?")

    missed_by, offer = await first_offer(ann, ben)
    other = ben if missed_by is ann else ann
    mark = missed_by.frames.index(offer)

    expired = await missed_by.expect(
        "offer_expired", lambda f: f["offer_id"] == offer["offer_id"], after=mark
    )
    assert expired["session_id"] == offer["session_id"]
    state = await missed_by.expect("state", lambda f: f["state"] == "not_ready", after=mark)
    assert state["reason"] == "Missed offer"
    assert state["load"] == 0

    second = await other.expect("offer")
    assigned = await other.accept(second)
    assert assigned["session"]["state"] == "assigned"
    assert second["session_id"] == offer["session_id"]
    assert second["offer_id"] != offer["offer_id"]
    assert [m["text"] for m in second["history"]] == ["Is anyone there?"]

    agent_id = "ann" if missed_by is ann else "ben"
    status = await runtime.store.agent_status("acme", agent_id)
    assert status is not None
    assert (status.state, status.reason, status.load) == (AgentState.NOT_READY, "Missed offer", 0)

    # The expired offer can no longer be taken.
    error = await missed_by.expect_error(
        {"type": "accept", "session_id": offer["session_id"], "offer_id": offer["offer_id"]}
    )
    assert error["code"] == "offer_not_available"
    assert len(missed_by.of("offer")) == 1


async def test_every_missed_offer_expires_in_turn(
    connect_agent: ConnectAgent, connect_customer: ConnectCustomer, runtime: Runtime
) -> None:
    """Timers keep running after one was handled: the second offer expires as well."""
    ann = await connect_agent("ann")
    ben = await connect_agent("ben")
    customer = await connect_customer()
    await customer.say("Nobody answers")
    first, offer = await first_offer(ann, ben)
    second = ben if first is ann else ann
    await first.expect("offer_expired", lambda f: f["offer_id"] == offer["offer_id"])
    again = await second.expect("offer")
    assert again["session_id"] == offer["session_id"]
    await second.expect("offer_expired", lambda f: f["offer_id"] == again["offer_id"])
    await second.expect("state", lambda f: f.get("reason") == "Missed offer")

    for agent_id in ("ann", "ben"):
        status = await runtime.store.agent_status("acme", agent_id)
        assert status is not None
        assert (status.state, status.reason) == (AgentState.NOT_READY, "Missed offer")
    await held_in_line(runtime, offer["session_id"])
    await assert_still_queued(runtime, offer["session_id"])


async def test_offers_still_expire_after_a_timer_pass_failed(
    connect_agent: ConnectAgent, connect_customer: ConnectCustomer, runtime: Runtime
) -> None:
    """A timer pass that fails unexpectedly must not end this process's timers for good."""
    redis = runtime.store.client
    # A queue timer whose epoch is not a number makes its handler raise (not a RouterError).
    bad = "queue|acme|no-such-session|not-a-number"
    await redis.zadd(SCHED_KEY, {bad: 0, "not-a-timer": 0})

    async def tripped() -> bool:  # a pass leased the bad entry, then failed on it
        score = await redis.zscore(SCHED_KEY, bad)
        dropped = await redis.zscore(SCHED_KEY, "not-a-timer") is None
        return score is not None and score > 0 and dropped

    await eventually(tripped, "a timer pass over the bad entries")
    ann = await connect_agent("ann")
    customer = await connect_customer()
    await customer.say("hello")
    offer = await ann.expect("offer")
    await ann.expect("offer_expired", lambda f: f["offer_id"] == offer["offer_id"])


async def test_not_ready_agents_are_offered_nothing(
    connect_agent: ConnectAgent, connect_customer: ConnectCustomer, runtime: Runtime
) -> None:
    ann = await connect_agent("ann", ready=False)
    customer = await connect_customer()
    await customer.say("Hello?")
    session_id = await session_of(runtime, customer)

    line = await held_in_line(runtime, session_id)
    await line.dispatch()
    await assert_still_queued(runtime, session_id)
    assert ann.of("offer") == []

    # Not Ready with a reason is just as unavailable.
    await ann.set_state("not_ready", "Lunch")
    await line.dispatch()
    await assert_still_queued(runtime, session_id)
    assert ann.of("offer") == []

    ben = await connect_agent("ben", ready=False)
    await ben.set_state("ready")
    offer = await ben.expect("offer")
    assert offer["session_id"] == session_id
    session = await runtime.store.load_session("acme", session_id, with_history=False)
    assert session is not None
    assert session.offer is not None
    assert session.offer.agent == "ben"
    assert ann.of("offer") == []


async def test_capacity_is_respected_until_a_conversation_closes(
    connect_agent: ConnectAgent, connect_customer: ConnectCustomer, runtime: Runtime
) -> None:
    ann = await connect_agent("ann")  # capacity 1
    first_id = await assigned_to(ann, await connect_customer(), runtime, "first")

    second = await connect_customer()
    await second.say("second")
    second_id = await session_of(runtime, second)
    assert second_id != first_id
    line = await held_in_line(runtime, second_id)
    await line.dispatch()
    await assert_still_queued(runtime, second_id)
    assert [o["session_id"] for o in ann.of("offer")] == [first_id]
    status = await runtime.store.agent_status("acme", "ann")
    assert status is not None
    assert (status.state, status.load, status.capacity) == (AgentState.READY, 1, 1)

    mark = len(ann.frames)
    await ann.send({"type": "close", "session_id": first_id})
    await ann.expect("session_closed", lambda f: f["session_id"] == first_id, after=mark)
    offer = await ann.expect("offer", after=mark)
    assert offer["session_id"] == second_id


async def test_longest_idle_ready_agent_gets_the_offer(
    connect_agent: ConnectAgent, connect_customer: ConnectCustomer, runtime: Runtime
) -> None:
    ben = await connect_agent("ben")  # ready first: idle the longest
    ann = await connect_agent("ann")
    customer = await connect_customer()
    await customer.say("first customer")
    winner, offer = await first_offer(ann, ben)
    assert winner is ben
    session = await runtime.store.load_session("acme", offer["session_id"], with_history=False)
    assert session is not None
    assert session.offer is not None
    assert session.offer.agent == "ben"

    # Ben works on it and closes it: he is now idle for a shorter time than Ann.
    await ben.accept(offer)
    mark = len(ben.frames)
    await ben.send({"type": "close", "session_id": offer["session_id"]})
    await ben.expect("session_closed", after=mark)
    other = await connect_customer()
    await other.say("second customer")
    second_id = await session_of(runtime, other)
    offer = await ann.expect("offer")
    assert offer["session_id"] == second_id
    second = await runtime.store.load_session("acme", second_id, with_history=False)
    assert second is not None
    assert second.offer is not None
    assert second.offer.agent == "ann"
    assert len(ben.of("offer")) == 1


# -- transfers ----------------------------------------------------------------------------


async def test_transfer_to_another_queue(
    connect_agent: ConnectAgent, connect_customer: ConnectCustomer, runtime: Runtime
) -> None:
    ann = await connect_agent("ann")
    cat = await connect_agent("cat")  # billing
    customer = await connect_customer()
    session_id = await assigned_to(ann, customer, runtime, "I was charged twice")

    mark = len(ann.frames)
    await ann.send({"type": "transfer", "session_id": session_id, "queue": "billing"})
    closed = await ann.expect("session_closed", lambda f: f["session_id"] == session_id, after=mark)
    assert closed["reason"] == "transferred"

    offer = await cat.expect("offer")
    assert offer["session_id"] == session_id
    assert offer["queue"] == "billing"
    assert [m["text"] for m in offer["history"]] == ["I was charged twice"]
    await cat.accept(offer)

    session = await runtime.store.load_session("acme", session_id, with_history=False)
    assert session is not None
    assert (session.state, session.queue, session.agent) == (
        SessionState.ASSIGNED,
        "billing",
        "cat",
    )
    ann_status = await runtime.store.agent_status("acme", "ann")
    assert ann_status is not None
    assert ann_status.load == 0
    assert await runtime.store.agent_sessions("acme", "ann") == []

    # Ann is out of it; the customer's next words go to Cat.
    error = await ann.expect_error({"type": "send", "session_id": session_id, "text": "still?"})
    assert error["code"] == "not_assigned"
    await customer.say("Hello billing")
    await cat.expect("message", lambda f: f["message"]["text"] == "Hello billing")
    assert ann.of("message") == []


async def test_transfer_to_a_named_agent_skips_the_longer_idle_one(
    connect_agent: ConnectAgent, connect_customer: ConnectCustomer, runtime: Runtime
) -> None:
    ann = await connect_agent("ann")
    session_id = await assigned_to(ann, await connect_customer(), runtime)
    sue = await connect_agent("sue")  # serves support too, idle longer than Ben
    ben = await connect_agent("ben")

    mark = len(ann.frames)
    await ann.send({"type": "transfer", "session_id": session_id, "agent": "ben"})
    closed = await ann.expect("session_closed", after=mark)
    assert (closed["session_id"], closed["reason"]) == (session_id, "transferred")

    offer = await ben.expect("offer")
    assert offer["session_id"] == session_id
    await ben.accept(offer)
    session = await runtime.store.load_session("acme", session_id, with_history=False)
    assert session is not None
    assert (session.state, session.agent, session.queue) == (
        SessionState.ASSIGNED,
        "ben",
        "support",
    )
    assert sue.of("offer") == []


async def test_transfer_to_an_absent_agent_waits_for_that_agent(
    connect_agent: ConnectAgent, connect_customer: ConnectCustomer, runtime: Runtime
) -> None:
    ann = await connect_agent("ann")
    session_id = await assigned_to(ann, await connect_customer(), runtime)
    sue = await connect_agent("sue")  # serves billing and is ready, but is not Cat

    await ann.send({"type": "transfer", "session_id": session_id, "agent": "cat"})
    # Cat serves only billing, so the session moves there, pinned to Cat.
    line = await held_in_line(runtime, session_id, queue="billing")
    session = await runtime.store.load_session("acme", session_id, with_history=False)
    assert session is not None
    assert session.pinned_agent == "cat"
    await line.dispatch()
    await assert_still_queued(runtime, session_id)
    assert sue.of("offer") == []

    cat = await connect_agent("cat")
    offer = await cat.expect("offer")
    assert (offer["session_id"], offer["queue"]) == (session_id, "billing")
    assert sue.of("offer") == []


# -- endings and reopening ----------------------------------------------------------------


async def test_agent_close_tells_the_customer_and_frees_the_slot(
    connect_agent: ConnectAgent, connect_customer: ConnectCustomer, runtime: Runtime
) -> None:
    ann = await connect_agent("ann")
    customer = await connect_customer()
    session_id = await assigned_to(ann, customer, runtime)
    status = await runtime.store.agent_status("acme", "ann")
    assert status is not None
    assert status.load == 1

    mark = len(ann.frames)
    await ann.send({"type": "close", "session_id": session_id})
    closed = await ann.expect("session_closed", after=mark)
    assert (closed["session_id"], closed["reason"]) == (session_id, "agent")
    await customer.expect("session_closed")

    session = await runtime.store.load_session("acme", session_id, with_history=False)
    assert session is not None
    assert (session.state, session.close_reason, session.agent) == (
        SessionState.CLOSED,
        "agent",
        None,
    )
    status = await runtime.store.agent_status("acme", "ann")
    assert status is not None
    assert (status.state, status.load) == (AgentState.READY, 0)
    assert await runtime.store.agent_sessions("acme", "ann") == []

    # The freed slot takes the next conversation; the closed one takes no more replies.
    error = await ann.expect_error({"type": "send", "session_id": session_id, "text": "bye"})
    assert error["code"] == "not_assigned"
    other = await connect_customer()
    mark = len(ann.frames)
    await other.say("my turn")
    offer = await ann.expect("offer", after=mark)
    assert offer["session_id"] != session_id


async def test_reply_within_the_reopen_window_reopens_the_same_session(
    connect_agent: ConnectAgent, connect_customer: ConnectCustomer, runtime: Runtime
) -> None:
    ann = await connect_agent("ann")
    customer = await connect_customer()
    session_id = await assigned_to(ann, customer, runtime, "first question")
    await ann.send({"type": "close", "session_id": session_id})
    await customer.expect("session_closed")

    mark = len(ann.frames)
    await customer.say("one more thing")
    offer = await ann.expect("offer", after=mark)
    assert offer["session_id"] == session_id
    assert [m["text"] for m in offer["history"]] == ["first question", "one more thing"]
    assert await runtime.store.current_session_id("acme", "web", customer.visitor_id) == (
        session_id
    )
    session = await runtime.store.load_session("acme", session_id, with_history=False)
    assert session is not None
    assert session.state is SessionState.OFFERED
    assert session.closed_at is None


def short_inactivity(reopen: bool) -> dict[str, Any]:
    stream = {
        "id": "web",
        "queue": "support",
        "reopen_on_reply": reopen,
        "reopen_window_seconds": 60,
        "inactivity_timeout_seconds": 0.1,
    }
    return {"tenants": [with_offer_timeout(tenant("acme", media_streams=[stream]))]}


@pytest.mark.parametrize(
    ("config_data", "reopens"),
    [(short_inactivity(reopen=False), False), (short_inactivity(reopen=True), True)],
    ids=["reopen-disabled", "reopen-enabled"],
)
async def test_inactivity_closes_and_the_next_message_follows_the_reopen_rule(
    connect_customer: ConnectCustomer, runtime: Runtime, reopens: bool
) -> None:
    customer = await connect_customer()
    await customer.say("hello")
    first_id = await session_of(runtime, customer)
    await customer.expect("session_closed")
    first = await runtime.store.load_session("acme", first_id, with_history=False)
    assert first is not None
    assert (first.state, first.close_reason) == (SessionState.CLOSED, "inactivity")

    await customer.say("hello again")

    async def filed() -> bool:
        sid = await runtime.store.current_session_id("acme", "web", customer.visitor_id)
        return sid is not None and "hello again" in await history_texts(runtime, "acme", sid)

    await eventually(filed, "the second message to be filed")
    current = await runtime.store.current_session_id("acme", "web", customer.visitor_id)
    assert current is not None
    if reopens:
        assert current == first_id
        assert await history_texts(runtime, "acme", current) == ["hello", "hello again"]
    else:
        assert current != first_id
        assert await history_texts(runtime, "acme", current) == ["hello again"]
        assert await history_texts(runtime, "acme", first_id) == ["hello"]


# -- inbound messages ---------------------------------------------------------------------


async def test_duplicate_customer_message_is_filed_once(
    connect_customer: ConnectCustomer, runtime: Runtime
) -> None:
    customer = await connect_customer()
    await customer.say("only once", msg_id="dup-1")
    await customer.say("only once", msg_id="dup-1")
    # Re-sent after a reconnect, as the protocol asks, with the original id.
    again = await connect_customer(visitor=customer.visitor_token)
    await again.say("only once", msg_id="dup-1")
    await again.say("next", msg_id="dup-2")
    session_id = await session_of(runtime, customer)

    async def filed() -> bool:
        return "next" in await history_texts(runtime, "acme", session_id)

    await eventually(filed, "the last message to be filed")
    assert await history_texts(runtime, "acme", session_id) == ["only once", "next"]


# Faster than a person types: the web chat's per-socket frame limit is raised for this burst.
@pytest.mark.parametrize(
    "settings", [Settings(tick_seconds=0.02, partitions=4, chat_ws_frames_per_second=100)]
)
async def test_many_quick_messages_reach_the_agent_in_order(
    connect_agent: ConnectAgent, connect_customer: ConnectCustomer, runtime: Runtime
) -> None:
    ann = await connect_agent("ann")
    customer = await connect_customer()
    texts = [f"message {i:02d}" for i in range(30)]
    ids = [uuid.uuid4().hex for _ in texts]
    for msg_id, text in zip(ids, texts, strict=True):
        await customer.send({"type": "message", "id": msg_id, "text": text})

    offer = await ann.expect("offer")
    session_id = offer["session_id"]
    await ann.accept(offer)
    await ann.wait(lambda: len(ann.texts(session_id)) == len(texts), "all 30 messages")
    assert ann.texts(session_id) == texts

    live = [f["seq"] for f in ann.of("message") if f["session_id"] == session_id]
    assert live == sorted(set(live))
    await customer.wait(lambda: len(customer.of("ack")) == len(ids), "all acks")
    assert [a["id"] for a in customer.of("ack")] == ids
    assert await history_texts(runtime, "acme", session_id) == texts


# -- queue statistics ---------------------------------------------------------------------


def stats_match(expected: dict[str, int]) -> Any:
    return lambda f: all(f["stats"][k] == v for k, v in expected.items())


async def queue_status(client: TestClient[Any, Any], tok: str, queue: str) -> dict[str, Any]:
    resp = await client.get(
        f"/api/v1/queues/{queue}/status", headers={"Authorization": f"Bearer {tok}"}
    )
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def test_queue_status_api_and_supervisor_push(
    client: TestClient[Any, Any],
    connect_agent: ConnectAgent,
    connect_customer: ConnectCustomer,
    runtime: Runtime,
) -> None:
    ann = await connect_agent("ann", ready=False)
    await ann.set_state("not_ready", "Lunch")
    ben = await connect_agent("ben")
    await assigned_to(ben, await connect_customer(), runtime)
    waiting = await connect_customer()
    await waiting.say("I am waiting")
    waiting_id = await session_of(runtime, waiting)
    await held_in_line(runtime, waiting_id)
    sue = await connect_agent("sue", ready=False)  # supervisor of support and billing

    expected = {
        "queue_length": 1,
        "logged_on_agents": 3,  # ann, ben, sue
        "ready_idle_agents": 0,
        "not_ready_agents": 2,  # ann, sue
        "working_agents": 1,  # ben
        "active_agents": 1,  # ben
    }
    tok = await api_token(client, "acme")
    body = await queue_status(client, tok, "support")
    assert (body["tenant"], body["queue"]) == ("acme", "support")
    assert {k: body[k] for k in expected} == expected
    assert body["longest_waiting_seconds"] >= 0

    pushed = await sue.expect(
        "queue_status", lambda f: f["queue"] == "support" and stats_match(expected)(f)
    )
    assert set(pushed["stats"]) == {*expected, "longest_waiting_seconds"}
    billing = await sue.expect("queue_status", lambda f: f["queue"] == "billing")
    assert billing["stats"]["queue_length"] == 0
    assert billing["stats"]["not_ready_agents"] == 1  # sue; cat is not logged on

    # Ann becomes ready and takes the waiting conversation: the push follows.
    mark = len(sue.frames)
    await ann.set_state("ready")
    offer = await ann.expect("offer")
    assert offer["session_id"] == waiting_id
    await ann.accept(offer)
    after = {
        "queue_length": 0,
        "logged_on_agents": 3,
        "ready_idle_agents": 0,
        "not_ready_agents": 1,
        "working_agents": 2,
        "active_agents": 2,
    }
    await sue.expect(
        "queue_status", lambda f: f["queue"] == "support" and stats_match(after)(f), after=mark
    )
    body = await queue_status(client, tok, "support")
    assert {k: body[k] for k in after} == after
    # Only supervisors get the push.
    assert ann.of("queue_status") == []
    assert ben.of("queue_status") == []


async def test_queue_status_push_forgets_a_supervisor_who_left_meanwhile(
    connect_agent: ConnectAgent, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    sue = await connect_agent("sue", ready=False)
    await sue.expect("queue_status")
    real_stats = runtime.store.queue_stats
    pushing: asyncio.Task[None] | None = None

    async def stats_while_sue_leaves(tenant_id: str, queue: str) -> Any:
        if asyncio.current_task() is pushing and ("acme", "sue") in runtime.sockets.roles:
            await sue.close()

            async def gone() -> bool:
                return ("acme", "sue") not in runtime.sockets.roles

            await eventually(gone, "the server to drop sue's socket")
        return await real_stats(tenant_id, queue)

    monkeypatch.setattr(runtime.store, "queue_stats", stats_while_sue_leaves)
    pushing = asyncio.create_task(runtime.push_queue_status())
    await pushing
    # She must not look connected here (the heartbeat refreshes presence for these).
    assert ("acme", "sue") not in runtime.sockets.agents
    assert await runtime.store.client.get(tenant_prefix("acme") + "on:sue") is None


# -- shutdown -----------------------------------------------------------------------------


def swallow_one_cancellation(entered: asyncio.Event, real: Any, result: Any) -> Any:
    """A stand-in for a store call that absorbs one cancellation, as redis-py can mid-command."""
    swallowed: list[bool] = []

    async def call(*args: Any, **kwargs: Any) -> Any:
        if swallowed:
            return await real(*args, **kwargs)
        entered.set()
        try:
            await asyncio.Event().wait()  # held here until cancelled
        except asyncio.CancelledError:
            swallowed.append(True)
        return result

    return call


async def returns_in_time(close: Coroutine[Any, Any, None]) -> None:
    """Bound ``close`` without cancelling it (a swallowed cancel would hide the hang)."""
    task = asyncio.ensure_future(close)
    done, _ = await asyncio.wait({task}, timeout=TIMEOUT)
    assert done, "close() never returned"
    await task


async def test_scheduler_stops_even_if_a_store_call_swallows_the_cancellation(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    entered = asyncio.Event()
    fake = swallow_one_cancellation(entered, runtime.store.claim_timers, [])
    monkeypatch.setattr(runtime.store, "claim_timers", fake)
    await asyncio.wait_for(entered.wait(), TIMEOUT)
    await returns_in_time(runtime.scheduler.close())


async def test_dispatcher_stops_even_if_a_store_call_swallows_the_cancellation(
    connect_customer: ConnectCustomer, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = await connect_customer()
    await customer.say("waiting for nobody")
    line = await held_in_line(runtime, await session_of(runtime, customer))
    entered = asyncio.Event()
    monkeypatch.setattr(line, "dispatch", swallow_one_cancellation(entered, line.dispatch, None))
    await asyncio.wait_for(entered.wait(), TIMEOUT)
    await returns_in_time(runtime.dispatcher.close())
