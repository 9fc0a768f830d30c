"""A reply filed but never queued (its process stopped between filing it and the broker's
confirm) goes out once its outbox timer comes due; a reply a delivery has taken leaves no
timer behind; a copy queued by the timer is never sent twice (``router.store.filing``)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from queues.base import Envelope, Reject
from router.events import OutboundWork
from router.models import Message, MessageStatus, Sender, SenderKind
from router.runtime import Runtime
from router.store.base import SCHED_KEY
from router.store.filing import send_timer
from tests.clients import AgentClient, eventually
from tests.observability.harness import open_and_accept, telegram_bot
from tests.outbound.test_send_once import StartFake, reply, sent, status_of

Client = TestClient[Any, Any]
ANN = Sender(kind=SenderKind.AGENT, id="ann", name="ann")


class Stopped(BaseException):
    """The process stops right here: nothing after it runs, not even error handling."""


async def last_message(runtime: Runtime, session_id: str) -> Message:
    history = await runtime.store.history("acme", session_id)
    return history[-1]


async def timer_score(runtime: Runtime, timer: str) -> float | None:
    score = await runtime.store.client.zscore(SCHED_KEY, timer)
    return None if score is None else float(score)


async def come_due(runtime: Runtime, timer: str) -> None:
    """The timer's time has come: make it due now and wake the scheduler."""
    await runtime.store.client.zadd(SCHED_KEY, {timer: 0})
    runtime.scheduler.wake.set()


def spy_on_publish(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Envelope]]:
    """Record what the broker is given from now on (it still takes it)."""
    published: list[tuple[str, Envelope]] = []
    publish = runtime.broker.publish

    async def spy(queue: str, env: Envelope) -> None:
        published.append((queue, env))
        await publish(queue, env)

    monkeypatch.setattr(runtime.broker, "publish", spy)
    return published


async def timer_handled(runtime: Runtime, timer: str) -> None:
    async def gone() -> bool:
        return await timer_score(runtime, timer) is None

    await eventually(gone, f"timer {timer} handled")


def published_work(published: list[tuple[str, Envelope]]) -> list[OutboundWork]:
    return [
        OutboundWork.model_validate_json(env.body)
        for queue, env in published
        if queue.startswith("sb.out.")
    ]


async def test_a_reply_filed_but_never_queued_goes_out_when_its_outbox_timer_is_due(
    client: Client, agent: AgentClient, start_fake: StartFake, runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    bot = await telegram_bot(client, start_fake)
    sid = await open_and_accept(client, bot, agent, "hello")

    async def stopped(queue: str, env: Envelope) -> None:
        raise Stopped

    with monkeypatch.context() as patch:
        patch.setattr(runtime.broker, "publish", stopped)
        with pytest.raises(Stopped):
            await runtime.conversations.send("acme", sid, sender=ANN, text="after the stop")
    filed = await last_message(runtime, sid)
    assert (filed.text, filed.status) == ("after the stop", MessageStatus.RECEIVED)
    assert filed.seq is not None
    timer = send_timer("acme", sid, filed.seq, compliance=False)
    assert await timer_score(runtime, timer) is not None
    assert sent(bot) == []

    published = spy_on_publish(runtime, monkeypatch)
    await come_due(runtime, timer)

    async def went_out() -> bool:
        status = await runtime.store.deliveries.statuses("acme", sid)
        return sent(bot) == ["after the stop"] and filed.seq in status

    await eventually(went_out, "the reply sent by its outbox timer")
    assert (await last_message(runtime, sid)).status is MessageStatus.SENT
    copies = published_work(published)
    assert [(w.message.id, w.outbox, w.compliance) for w in copies] == [(filed.id, True, False)]

    await timer_handled(runtime, timer)
    assert sent(bot) == ["after the stop"]


async def test_a_delivered_reply_leaves_no_timer_and_a_late_one_queues_nothing(
    client: Client, agent: AgentClient, start_fake: StartFake, runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    bot = await telegram_bot(client, start_fake)
    sid = await open_and_accept(client, bot, agent, "hello")
    filed = await runtime.conversations.send("acme", sid, sender=ANN, text="straight out")
    assert filed.seq is not None
    timer = send_timer("acme", sid, filed.seq, compliance=False)

    async def delivered() -> bool:
        status = await runtime.store.deliveries.statuses("acme", sid)
        return sent(bot) == ["straight out"] and filed.seq in status

    await eventually(delivered, "the reply sent")
    # The delivery dropped the timer when it claimed the send.
    assert await timer_score(runtime, timer) is None

    # Were it left behind (a delivery whose drop was lost), it would find the reply sent.
    published = spy_on_publish(runtime, monkeypatch)
    await come_due(runtime, timer)
    await timer_handled(runtime, timer)
    assert published_work(published) == []
    assert sent(bot) == ["straight out"]


async def test_a_compliance_answer_is_queued_again_as_one(
    client: Client, agent: AgentClient, start_fake: StartFake, runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """An answer to a consent keyword goes out even to an opted-out customer; its copy
    must keep that, or the timer would queue a message its send then refuses."""
    bot = await telegram_bot(client, start_fake)
    sid = await open_and_accept(client, bot, agent, "hello")
    published: list[tuple[str, Envelope]] = []
    publish = runtime.broker.publish

    async def stopped_once(queue: str, env: Envelope) -> None:
        published.append((queue, env))
        if len(published) == 1:
            raise Stopped
        await publish(queue, env)

    monkeypatch.setattr(runtime.broker, "publish", stopped_once)
    system = Sender(kind=SenderKind.SYSTEM, id="system", name="system")
    with pytest.raises(Stopped):
        await runtime.conversations.send(
            "acme", sid, sender=system, text="You are unsubscribed.", compliance=True
        )
    filed = await last_message(runtime, sid)
    assert filed.seq is not None
    assert await timer_score(runtime, send_timer("acme", sid, filed.seq, compliance=False)) is None
    timer = send_timer("acme", sid, filed.seq, compliance=True)
    await come_due(runtime, timer)

    async def queued_again() -> bool:
        return len(published_work(published)) == 2

    await eventually(queued_again, "the answer queued again by its timer")
    first, copy = published_work(published)
    assert (first.compliance, first.outbox) == (True, False)
    assert (copy.message.id, copy.compliance, copy.outbox) == (filed.id, True, True)


async def test_a_copy_finding_its_message_settled_is_dropped(
    client: Client, agent: AgentClient, start_fake: StartFake, runtime: Runtime
) -> None:
    bot = await telegram_bot(client, start_fake)
    work = await reply(client, bot, agent, runtime)
    await runtime.outbound.deliver(work)
    assert sent(bot) == ["once only"]
    copy = work.model_copy(update={"outbox": True})
    await runtime.outbound.deliver(copy)
    assert sent(bot) == ["once only"]

    # Failed with a provider's reason: the first delivery dead-lettered it; a redelivery of
    # that delivery dead-letters it again (its dead-lettering may not have gone through),
    # a copy queued by the outbox only drops out.
    message = work.message.model_copy(update={"id": uuid.uuid4().hex, "text": "refused"})
    filing = await runtime.store.file_outbound(
        message, session_id=work.session_id, agent="ann", inactivity_seconds=3600
    )
    assert filing.outcome == "ok"
    seq = filing.seq
    assert seq is not None
    failed = work.model_copy(update={"message": message.model_copy(update={"seq": seq})})
    await runtime.store.deliveries.set_status(
        "acme", failed.session_id, seq, MessageStatus.FAILED, "chat not found"
    )
    with pytest.raises(Reject, match="chat not found"):
        await runtime.outbound.deliver(failed)
    await runtime.outbound.deliver(failed.model_copy(update={"outbox": True}))
    assert await status_of(runtime, failed) == (MessageStatus.FAILED, "chat not found")
    assert sent(bot) == ["once only"]
