"""Blocking a remote number from the agent desktop: afterwards its messages are dropped before
they are stored or routed (and counted), the webhook still answers 200; an admin unblocks it.
Where blocking is allowed: the stream's setting, else the CPaaS number's / platform's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from router.models import ChannelKind, Party, Session, SessionState
from router.runtime import Runtime
from tests.clients import AgentClient
from tests.sms.consent_fixtures import (  # noqa: F401 - the *_fixture are fixtures
    CPAAS_NUMBER,
    CUSTOMER,
    Client,
    Vonage,
    agent_send,
    bearer,
    cs_admin_fixture,
    cs_agent_fixture,
    cs_client_fixture,
    cs_runtime_fixture,
    cs_vonage_fixture,
    open_conversation,
    password_token,
    put_cpaas_number,
    text_in,
    vonage_account,
)


def blocked_count(rt: Runtime, channel: str) -> float:
    value: float = rt.metrics.blocked_messages.labels(channel)._value.get()
    return value


async def block(agent: AgentClient, session_id: str) -> dict[str, object]:
    mark = len(agent.frames)
    await agent.send({"type": "block", "session_id": session_id})
    await agent.wait(
        lambda: any(f["type"] in ("blocked", "error") for f in agent.frames[mark:]), "an answer"
    )
    return next(f for f in agent.frames[mark:] if f["type"] in ("blocked", "error"))


async def test_blocked_number_is_dropped_before_storage_until_an_admin_unblocks_it(
    cs_client: Client, cs_runtime: Runtime, cs_vonage: Vonage, cs_agent: AgentClient,
    cs_admin: dict[str, str],
) -> None:  # fmt: skip
    client, rt, vonage, ann = cs_client, cs_runtime, cs_vonage, cs_agent
    session_id = await open_conversation(client, vonage, ann, "You will regret this")
    answer = await block(ann, session_id)
    assert answer == {"type": "blocked", "session_id": session_id, "party": CUSTOMER}

    before = len((await rt.conversations.session("acme", session_id, history=True)).history)
    mark = len(ann.frames)
    await text_in(client, vonage.account, "still here")  # answered 200
    await text_in(client, vonage.account, "STOP")  # a keyword from a blocked number: dropped too
    await rt.broker.join()
    session = await rt.conversations.session("acme", session_id, history=True)
    assert len(session.history) == before
    assert [f for f in ann.frames[mark:] if f["type"] == "message"] == []
    assert blocked_count(rt, "vonage") == 2
    metrics = await (await client.get("/metrics")).text()
    assert 'switchboard_blocked_messages_total{channel="vonage"} 2.0' in metrics
    assert 'switchboard_messages_in_total{channel="vonage",outcome="blocked"} 2.0' in metrics
    assert vonage.fake.sms == []

    # Nothing is sent to a blocked number either.
    error = await agent_send(ann, session_id, "Bye")
    assert error["code"] == "blocked"
    assert "blocked by ann" in error["message"]

    # Closed, the conversation is not reopened or offered again by the blocked number.
    mark = len(ann.frames)
    await ann.send({"type": "close", "session_id": session_id})
    await ann.expect("session_closed", after=mark)
    await text_in(client, vonage.account, "let me in")
    await rt.broker.join()
    assert ann.of("offer")[1:] == []
    assert await rt.store.current_session_id("acme", "vonage", CUSTOMER) == session_id

    listed = await client.get("/api/v1/blocked-numbers", headers=cs_admin)
    [record] = (await listed.json())["items"]
    assert (record["channel"], record["account"], record["party"], record["blocked_by"]) == (
        "vonage", vonage.account, CUSTOMER, "ann",
    )  # fmt: skip
    agent_headers = bearer(await password_token(client, "ann"))
    assert (await client.get("/api/v1/blocked-numbers", headers=agent_headers)).status == 403
    url = f"/api/v1/blocked-numbers/{vonage.account}/+{CUSTOMER}"
    assert (await client.delete(url, headers=agent_headers)).status == 403
    assert (await client.delete(url, headers=cs_admin)).status == 204
    assert (await client.delete(url, headers=cs_admin)).status == 404
    assert (await (await client.get("/api/v1/blocked-numbers", headers=cs_admin)).json()) == {
        "items": [], "total": 0, "limit": 50, "offset": 0,
    }  # fmt: skip

    mark = len(ann.frames)
    await text_in(client, vonage.account, "sorry about before")
    offer = await ann.expect("offer", after=mark)
    assert offer["history"][-1]["text"] == "sorry about before"
    assert blocked_count(rt, "vonage") == 3


async def test_blocking_not_allowed_on_the_stream(
    cs_client: Client, cs_runtime: Runtime, cs_vonage: Vonage, cs_agent: AgentClient,
    cs_admin: dict[str, str],
) -> None:  # fmt: skip
    locked = await vonage_account(cs_client, cs_admin, cs_vonage.url, stream="vonage-locked")
    session_id = await open_conversation(cs_client, Vonage(cs_vonage.fake, cs_vonage.url, locked),
                                         cs_agent)  # fmt: skip
    error = await block(cs_agent, session_id)
    assert (error["type"], error["code"], error["ref"]) == (
        "error",
        "blocking_not_allowed",
        "block",
    )
    assert await cs_runtime.store.consent.blocks("acme") == []


async def test_only_the_agent_holding_an_sms_conversation_blocks(
    cs_client: Client, cs_vonage: Vonage, cs_agent: AgentClient
) -> None:
    session_id = await open_conversation(cs_client, cs_vonage, cs_agent)
    mark = len(cs_agent.frames)
    await cs_agent.send({"type": "close", "session_id": session_id})
    await cs_agent.expect("session_closed", after=mark)
    assert (await block(cs_agent, session_id))["code"] == "not_assigned"
    assert (await block(cs_agent, "no-such-session"))["code"] == "not_found"


def sms_session(stream: str, account: str = CPAAS_NUMBER) -> Session:
    now = datetime.now(UTC)
    return Session(
        id="s1", tenant="acme", stream=stream, channel=ChannelKind.SMS, account=account,
        remote_party=Party(id="+13125550199"), state=SessionState.ASSIGNED, agent="ann",
        created_at=now, updated_at=now,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("stream", "number_can_block", "platform_blocks", "allowed"),
    [
        ("sms", None, True, True),  # the platform's default
        ("sms", None, False, False),
        ("sms", True, False, True),  # the number overrides the platform
        ("sms", False, True, False),
        ("sms-locked", True, True, False),  # the media stream overrides the number
        ("user.2015550123", True, False, True),  # a personal inbox: the number decides
    ],
)
async def test_where_cpaas_blocking_is_allowed(
    cs_runtime: Runtime, stream: str, number_can_block: bool | None, platform_blocks: bool,
    allowed: bool,
) -> None:  # fmt: skip
    await put_cpaas_number(cs_runtime, can_block=number_can_block, platform_blocks=platform_blocks)
    assert await cs_runtime.pipeline.blocking.allowed(sms_session(stream)) is allowed


async def test_unknown_cpaas_number_and_other_channels_never_block(cs_runtime: Runtime) -> None:
    blocking = cs_runtime.pipeline.blocking
    assert await blocking.allowed(sms_session("sms", account="9495550100")) is False
    web = sms_session("sms").model_copy(update={"channel": ChannelKind.WEBCHAT})
    assert await blocking.allowed(web) is False
