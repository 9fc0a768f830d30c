"""An agent reply reaches the provider once, or is failed with its reason, whatever happens
to the store around the provider call (``router.outbound``'s send claim)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.exceptions import ConnectionError as RedisConnectionError

from queues.base import Reject
from router.events import OutboundWork
from router.models import Direction, Message, MessageStatus, Sender, SenderKind
from router.outbound import OUTCOME_UNKNOWN
from router.runtime import Runtime
from tests.clients import AgentClient, eventually
from tests.observability.harness import Bot, open_and_accept, telegram_bot

Client = TestClient[Any, Any]
StartFake = Callable[[web.Application], Awaitable[str]]


async def reply(
    client: Client, bot: Bot, agent: AgentClient, runtime: Runtime, dedupe_key: str | None = None
) -> OutboundWork:
    """A conversation assigned to ann with one reply filed in it (not yet sent)."""
    session_id = await open_and_accept(client, bot, agent, "hello")
    session = await runtime.store.load_session("acme", session_id)
    assert session is not None
    message = Message(
        id=uuid.uuid4().hex, tenant="acme", channel=session.channel, account=session.account,
        stream=session.stream, direction=Direction.OUTBOUND, remote_party=session.remote_party,
        sender=Sender(kind=SenderKind.AGENT, id="ann", name="ann"), text="once only",
    )  # fmt: skip
    filing = await runtime.store.file_outbound(
        message, session_id=session_id, agent="ann", inactivity_seconds=3600,
        dedupe_key=dedupe_key and dedupe_key.format(session=session_id),
    )  # fmt: skip
    assert filing.outcome == "ok"
    filed = message.model_copy(update={"session_id": session_id, "seq": filing.seq})
    return OutboundWork(tenant="acme", session_id=session_id, message=filed)


async def status_of(runtime: Runtime, work: OutboundWork) -> tuple[MessageStatus, str | None]:
    assert work.message.seq is not None
    statuses = await runtime.store.deliveries.statuses("acme", work.session_id)
    return statuses[work.message.seq]


def sent(bot: Bot) -> list[str]:
    return [str(p["text"]) for p in bot.fake.sent("sendMessage")]


async def test_a_send_stopped_after_the_provider_call_is_failed_not_sent_again(
    client: Client, agent: AgentClient, start_fake: StartFake, runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    bot = await telegram_bot(client, start_fake)
    work = await reply(client, bot, agent, runtime)

    async def stopped(*_: object) -> None:
        raise asyncio.CancelledError  # the process stops while recording the send

    # The provider took it, then the recording never happened.
    with monkeypatch.context() as patch:
        patch.setattr(runtime.outbound, "_sent", stopped)
        with pytest.raises(asyncio.CancelledError):
            await runtime.outbound.deliver(work)
    assert sent(bot) == ["once only"]
    # Its redelivery cannot know whether the provider has it: failed, never sent twice.
    with pytest.raises(Reject, match="delivery outcome unknown"):
        await runtime.outbound.deliver(work)
    assert sent(bot) == ["once only"]
    assert await status_of(runtime, work) == (MessageStatus.FAILED, OUTCOME_UNKNOWN)


async def test_a_store_failure_before_the_provider_call_leaves_no_claim(
    client: Client, agent: AgentClient, start_fake: StartFake, runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    bot = await telegram_bot(client, start_fake)
    work = await reply(client, bot, agent, runtime)
    real_check = runtime.store.deliveries.check_send

    async def lost(*args: Any, **kwargs: Any) -> Any:
        await real_check(*args, **kwargs)  # the claim was taken, then Redis went away
        raise RedisConnectionError("Redis went away")

    with monkeypatch.context() as patch:
        patch.setattr(runtime.store.deliveries, "check_send", lost)
        with pytest.raises(RedisConnectionError):
            await runtime.outbound.deliver(work)
    assert sent(bot) == []
    assert await runtime.store.client.get(f"sb:sending:{work.message.id}") is None
    # Nothing went out: the retry sends it, once.
    await runtime.outbound.deliver(work)
    assert sent(bot) == ["once only"]
    assert (await status_of(runtime, work))[0] is MessageStatus.SENT


async def test_a_claim_whose_answer_was_lost_is_still_ours(
    client: Client, agent: AgentClient, start_fake: StartFake, runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    bot = await telegram_bot(client, start_fake)
    work = await reply(client, bot, agent, runtime)
    real_check = runtime.store.deliveries.check_send

    async def answered_late(*args: Any, **kwargs: Any) -> Any:
        # The claim went through but its answer was lost; the client sent it again.
        await real_check(*args, **kwargs)
        return await real_check(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(runtime.store.deliveries, "check_send", answered_late)
        await runtime.outbound.deliver(work)
    assert sent(bot) == ["once only"]
    assert (await status_of(runtime, work))[0] is MessageStatus.SENT


async def test_a_delivery_that_finds_it_sent_under_its_claim_does_not_send_it(
    client: Client, agent: AgentClient, start_fake: StartFake, runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Two deliveries of one message (a redelivery while the first still recorded its send):
    the first recorded it and dropped its claim just before the second claimed it."""
    bot = await telegram_bot(client, start_fake)
    work = await reply(client, bot, agent, runtime)
    real_check = runtime.store.deliveries.check_send

    async def check_send(tenant: str, session_id: str, seq: int | None, **kwargs: Any) -> Any:
        assert seq is not None
        await runtime.store.deliveries.record_sent(tenant, work.message.account, ["p1"],
                                                   session_id, seq)  # fmt: skip
        return await real_check(tenant, session_id, seq, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(runtime.store.deliveries, "check_send", check_send)
        await runtime.outbound.deliver(work)
    assert sent(bot) == []
    assert await runtime.store.client.get(f"sb:sending:{work.message.id}") is None


async def test_a_reply_filed_by_a_filing_whose_answer_was_lost_is_queued_when_sent_again(
    client: Client, agent: AgentClient, start_fake: StartFake, runtime: Runtime
) -> None:
    """The store ran the filing but its answer was lost (Redis restarting) and the store
    client sent it again: the second filing finds it filed (same client id). It was never
    queued, so it is queued now, as the message filed first, and goes out once."""
    bot = await telegram_bot(client, start_fake)
    work = await reply(client, bot, agent, runtime, dedupe_key="out:{session}:ann:c1")
    ann = Sender(kind=SenderKind.AGENT, id="ann", name="ann")
    filed = await runtime.conversations.send(
        "acme", work.session_id, sender=ann, text="once only", client_id="c1"
    )
    assert (filed.id, filed.seq) == (work.message.id, work.message.seq)
    await bot.fake.wait_for("/sendMessage")

    async def recorded() -> bool:
        statuses = await runtime.store.deliveries.statuses("acme", work.session_id)
        return statuses.get(filed.seq or 0, (None,))[0] is MessageStatus.SENT

    await eventually(recorded, "the reply recorded as sent")
    again = await runtime.conversations.send(
        "acme", work.session_id, sender=ann, text="once only", client_id="c1"
    )
    assert again.status is MessageStatus.SENT  # handled: not queued again
    assert sent(bot) == ["once only"]
