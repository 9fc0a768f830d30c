"""Bot modes on media streams through the real app, with a scripted fake engine: the bot
answers web-chat customers (sender kind "bot"), hands off to agents with its transcript,
picks queues by intent and suggests replies to agents."""

from __future__ import annotations

from typing import Any

import pytest

from bots.base import BotReply
from bots.errors import BotQuotaExceeded, BotUnavailable
from bots.quota import QuotaLimitedEngine
from router.models import SessionState
from router.runtime import Runtime
from tests.bots.modes_fixtures import (  # noqa: F401 - the *_fixture are fixtures
    HANG,
    Client,
    FakeEngine,
    Script,
    bm_admin_fixture,
    bm_client_fixture,
    bm_engine_fixture,
    bm_open_fixture,
    bm_runtime_fixture,
    connect_agent,
    connect_customer,
)
from tests.clients import AgentClient, CustomerClient, eventually
from tests.observability.harness import sample

Opened = list[AgentClient | CustomerClient]


def texts(history: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(m["sender"]["kind"], m["text"]) for m in history]


async def session_state(runtime: Runtime, customer: CustomerClient, stream: str) -> str | None:
    sid = await runtime.store.current_session_id("acme", stream, customer.visitor_id)
    if sid is None:
        return None
    session = await runtime.store.load_session("acme", sid, with_history=False)
    return session.state.value if session else None


async def test_self_service_answer_reaches_the_customer_as_the_bot(
    bm_client: Client, bm_runtime: Runtime, bm_engine: FakeEngine, bm_open: Opened
) -> None:
    customer = await connect_customer(bm_client, bm_open, "self")
    await customer.say("hello")
    frame = await customer.expect_text("How can I help?")
    assert frame["message"]["sender"]["kind"] == "bot"
    assert frame["message"]["sender"]["name"] == "Bot wb"
    assert await session_state(bm_runtime, customer, "self") == SessionState.WITH_BOT.value
    assert [t.text for t in bm_engine.turns] == ["hello"]


@pytest.mark.parametrize(
    ("trigger", "step"),
    [
        ("I have a billing question", BotReply(messages=("Let me connect you.",),
                                               intent="billing_question")),
        ("connect me", BotReply(messages=("Transferring.",), handoff=True)),
        ("mumble mumble", BotReply(messages=("Sorry?",), intent="x", confidence=0.1)),
        ("I want an Agent please", BotReply(messages=("never asked",))),
        ("anything", BotUnavailable("bot is down")),
        ("anything", BotQuotaExceeded("max API calls per day reached")),
        ("anything", HANG),
    ],
    ids=["intent", "watson_handoff", "low_confidence", "keyword", "error", "quota", "timeout"],
)  # fmt: skip
async def test_hand_off_gives_the_agent_the_bot_transcript(
    bm_client: Client, bm_runtime: Runtime, bm_engine: FakeEngine, bm_open: Opened,
    trigger: str, step: Script,
) -> None:  # fmt: skip
    ann = await connect_agent(bm_client, bm_open)
    customer = await connect_customer(bm_client, bm_open, "self")
    await customer.say("hello")
    await customer.expect_text("How can I help?")
    bm_engine.script.append(step)
    await customer.say(trigger)
    offer = await ann.expect("offer")
    history = texts(offer["history"])
    assert history[:3] == [
        ("customer", "hello"), ("bot", "How can I help?"), ("customer", trigger)
    ]  # fmt: skip
    if trigger == "connect me" or "billing" in trigger:
        assert isinstance(step, BotReply)
        assert history[3] == ("bot", step.messages[0])  # the bot's own goodbye went out
    else:
        assert len(history) == 3  # unsure, failed or bypassed: nothing more from the bot
    if "Agent" in trigger:
        assert len(bm_engine.turns) == 1  # a request for a person never reaches the bot
    await ann.accept(offer)
    assert await session_state(bm_runtime, customer, "self") == SessionState.ASSIGNED.value


async def test_routing_picks_the_queue_by_intent(
    bm_client: Client, bm_runtime: Runtime, bm_engine: FakeEngine, bm_open: Opened
) -> None:
    bill = await connect_agent(bm_client, bm_open, "bill")
    ann = await connect_agent(bm_client, bm_open, "ann")
    bm_engine.script.append(BotReply(intent="billing"))
    first = await connect_customer(bm_client, bm_open, "route")
    await first.say("my invoice is wrong")
    offer = await bill.expect("offer")
    assert offer["queue"] == "billing"
    assert texts(offer["history"]) == [("customer", "my invoice is wrong")]
    bm_engine.script.append(BotUnavailable("down"))  # an error: the stream's queue
    second = await connect_customer(bm_client, bm_open, "route")
    await second.say("hello")
    offer = await ann.expect("offer")
    assert offer["queue"] == "support"
    assert len(bm_engine.turns) == 2


async def assigned_session(
    client: Client, opened: Opened, stream: str
) -> tuple[AgentClient, CustomerClient, str]:
    ann = await connect_agent(client, opened)
    customer = await connect_customer(client, opened, stream)
    await customer.say("hi, an agent please")
    offer = await ann.expect("offer")
    await ann.accept(offer)
    return ann, customer, str(offer["session_id"])


async def test_agent_assist_suggestions_sent_with_a_click(
    bm_client: Client, bm_engine: FakeEngine, bm_open: Opened
) -> None:
    ann, customer, sid = await assigned_session(bm_client, bm_open, "assist")
    assert bm_engine.turns == []  # queued conversations get no suggestions
    bm_engine.script.append(BotReply(suggestions=("Order A", "Order B", "Order C")))
    await customer.say("where is my order?")
    frame = await ann.expect("suggestions")
    assert frame == {"type": "suggestions", "session_id": sid, "seq": frame["seq"],
                     "suggestions": ["Order A", "Order B"]}  # fmt: skip
    message = await ann.expect("message", lambda f: f["seq"] == frame["seq"])
    assert message["message"]["text"] == "where is my order?"
    await ann.reply(sid, frame["suggestions"][1])
    sent = await customer.expect_text("Order B")
    assert sent["message"]["sender"]["kind"] == "agent"


async def test_agent_assist_failing_bot_means_no_suggestions_only(
    bm_client: Client, bm_engine: FakeEngine, bm_open: Opened
) -> None:
    ann, customer, sid = await assigned_session(bm_client, bm_open, "assist")
    bm_engine.script += [BotQuotaExceeded("capped"), BotReply(messages=("Yes",))]
    await customer.say("first")
    await customer.say("second")
    later = await ann.expect("suggestions")
    assert later["suggestions"] == ["Yes"]
    assert len(ann.of("suggestions")) == 1  # the capped turn produced none
    assert ann.texts(sid)[-2:] == ["first", "second"]  # both messages reached the agent


async def test_self_service_then_assist_after_hand_off(
    bm_client: Client, bm_engine: FakeEngine, bm_open: Opened
) -> None:
    ann = await connect_agent(bm_client, bm_open)
    customer = await connect_customer(bm_client, bm_open, "both")
    await customer.say("hello")
    await customer.expect_text("How can I help?")
    await customer.say("a person please")
    await ann.accept(await ann.expect("offer"))
    bm_engine.default = BotReply(suggestions=("Try turning it off and on",))
    await customer.say("it is broken")
    frame = await ann.expect("suggestions")
    assert frame["suggestions"] == ["Try turning it off and on"]


async def test_bot_state_is_passed_back_on_the_next_turn(
    bm_client: Client, bm_runtime: Runtime, bm_engine: FakeEngine, bm_open: Opened
) -> None:
    bm_engine.script += [
        BotReply(messages=("What is your name?",), state={"context": {"step": 1}}),
        BotReply(messages=("Thanks, Ann",), state={"context": {"step": 2}}),
    ]
    customer = await connect_customer(bm_client, bm_open, "self")
    await customer.say("hello")
    await customer.expect_text("What is your name?")
    await customer.say("Ann")
    await customer.expect_text("Thanks, Ann")
    assert [t.state for t in bm_engine.turns] == [None, {"context": {"step": 1}}]
    sid = bm_engine.turns[0].conversation_id
    assert await bm_runtime.store.bots.state("acme", sid) == {"context": {"step": 2}}

    async def kept() -> bool:
        return await bm_runtime.store.client.ttl(f"sb:acme:bot:{sid}") > 0

    await eventually(kept, "the bot state to have a TTL")


async def test_daily_cap_reached_hands_off_and_shows_in_the_api_and_the_metrics(
    bm_client: Client, bm_runtime: Runtime, bm_engine: FakeEngine, bm_open: Opened,
    bm_admin: dict[str, str],
) -> None:  # fmt: skip
    account = await bm_runtime.store.bots.get("wb")
    assert account is not None
    await bm_runtime.store.bots.put(
        account.model_copy(update={"max_api_calls_per_day": 1}), create=False
    )
    quota = bm_runtime.bots.quota
    bm_runtime.bots.engine_factory = lambda a: QuotaLimitedEngine(bm_engine, quota, a, "UTC")
    ann = await connect_agent(bm_client, bm_open)
    customer = await connect_customer(bm_client, bm_open, "self")
    await customer.say("hello")
    await customer.expect_text("How can I help?")
    await customer.say("and another thing")
    offer = await ann.expect("offer")
    assert texts(offer["history"])[-1] == ("customer", "and another thing")
    assert len(bm_engine.turns) == 1  # the capped call never reached the engine
    view = await (await bm_client.get("/api/v1/bot-accounts/wb", headers=bm_admin)).json()
    assert view["remaining_calls_today"] == 0
    text = await (await bm_client.get("/metrics")).text()
    assert sample(text, "switchboard_bot_calls_total", engine="watson", account="wb",
                  outcome="ok") == 1.0  # fmt: skip
    assert sample(text, "switchboard_bot_calls_total", engine="watson", account="wb",
                  outcome="cap") == 1.0  # fmt: skip
    assert sample(text, "switchboard_bot_cap_hits_total", engine="watson", account="wb") == 1.0
