"""The RabbitMQ consumer side beyond the contract: the consumer survives a lost connection and
a deleted queue, a delivery of a lost channel is never acked on the new one, and a requeue
is not swallowed by the acks batched around it."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, cast

import aiormq
import pytest
from aiormq.abc import DeliveredMessage
from pamqp.header import ContentHeader
from yarl import URL

from queues import RabbitBroker
from queues.base import BrokerError, Envelope, Retry
from queues.rabbitmq import _RabbitSubscription, to_envelope
from tests.contracts.broker import (
    MARKER,
    TIMEOUT,
    Harness,
    Recorder,
    envelope,
    pass_marker,
    scripted,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from aiormq.abc import AbstractChannel
    from pamqp.common import FieldTable

pytestmark = pytest.mark.rabbitmq


@pytest.fixture
async def harness(rabbitmq_url: str) -> AsyncIterator[Harness]:
    # Reconnect at once after a loss (the default waits seconds).
    broker = RabbitBroker(str(URL(rabbitmq_url).update_query(reconnect_interval="0.05")))
    await broker.start()
    harness = Harness(broker)
    yield harness
    await harness.aclose()


def reconnected(broker: RabbitBroker) -> asyncio.Event:
    """Set once the broker is back after a lost connection (consumers restored)."""
    event = asyncio.Event()

    async def mark() -> None:
        event.set()

    broker.on_reconnect.append(mark)
    return event


async def drop_connection(broker: RabbitBroker) -> None:
    """Lose the connection under the broker (it was not asked to close)."""
    connection = broker._connection
    assert connection is not None
    assert connection.transport is not None
    await connection.transport.connection.close(ConnectionResetError("dropped by the test"))


async def test_consumer_is_back_after_the_connection_drops(harness: Harness) -> None:
    broker = harness.broker
    assert isinstance(broker, RabbitBroker)
    queue = await harness.queue()
    recorder = Recorder()
    await harness.subscribe(queue, recorder)
    back = reconnected(broker)
    await drop_connection(broker)
    await asyncio.wait_for(back.wait(), TIMEOUT)

    message = envelope()
    await harness.publish(queue, message)
    assert [m.id for m in await recorder.wait_for(1)] == [message.id]


async def test_a_delivery_of_the_lost_channel_is_not_acked_on_the_new_one(
    harness: Harness,
) -> None:
    """Delivery tags start over on the new channel: the handler of the lost channel's
    delivery 1 must not ack the new channel's delivery 1 (the same message, delivered again
    and still in work)."""
    broker = harness.broker
    assert isinstance(broker, RabbitBroker)
    queue = await harness.queue()
    first_gate, never = asyncio.Event(), asyncio.Event()
    handlers: list[asyncio.Task[object]] = []
    recorder = Recorder()

    async def handle(message: Envelope) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.append(task)
        gate = first_gate if len(handlers) == 1 else never
        await recorder(message)
        await gate.wait()

    subscription = await harness.subscribe(queue, handle)
    message = envelope()
    await harness.publish(queue, message)
    await recorder.wait_for(1)
    back = reconnected(broker)
    await drop_connection(broker)
    await asyncio.wait_for(back.wait(), TIMEOUT)
    await recorder.wait_for(2)  # delivered again, on the new channel
    assert recorder.ids == [message.id, message.id]

    first_gate.set()
    await asyncio.wait_for(handlers[0], TIMEOUT)  # finished and settled
    await subscription.cancel()  # the second delivery is still in work: requeued

    survivor = Recorder()
    await harness.subscribe(queue, survivor)
    assert [m.id for m in await survivor.wait_for(1)] == [message.id]


async def test_consumer_is_back_after_its_queue_was_deleted(
    harness: Harness, rabbitmq_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = await harness.queue()
    consumed = asyncio.Event()
    consume = _RabbitSubscription.consume

    async def consume_and_tell(subscription: _RabbitSubscription) -> None:
        await consume(subscription)
        consumed.set()

    monkeypatch.setattr(_RabbitSubscription, "consume", consume_and_tell)
    recorder = Recorder()
    await harness.subscribe(queue, recorder)
    consumed.clear()

    connection = await aiormq.connect(rabbitmq_url)
    try:
        channel = await connection.channel()
        await channel.queue_delete(queue)  # RabbitMQ cancels the consumer
    finally:
        await connection.close()
    await asyncio.wait_for(consumed.wait(), TIMEOUT)

    message = envelope()
    await harness.publish(queue, message)
    assert [m.id for m in await recorder.wait_for(1)] == [message.id]


async def test_a_requeue_is_not_swallowed_by_the_acks_around_it(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The middle message's retry cannot be published, so it is requeued (nack) while its
    neighbours are acked in the same batch: it must come back, and only it."""
    broker = harness.broker
    assert isinstance(broker, RabbitBroker)
    queue = await harness.queue()
    first, middle, last = (envelope(n) for n in range(3))

    async def cannot_publish(*_: object) -> None:
        raise BrokerError("down for the test")

    monkeypatch.setattr(broker, "_publish_later", cannot_publish)
    recorder = Recorder()
    seen: set[str] = set()

    def retry_middle_once(message: Envelope) -> Exception | None:
        if message.id == middle.id and message.id not in seen:
            seen.add(message.id)
            return Retry(0)
        return None

    await harness.publish(queue, first, middle, last)
    await harness.subscribe(queue, scripted(recorder, retry_middle_once), prefetch=3)
    await recorder.wait_for(4)
    await pass_marker(harness, queue, recorder)
    assert sorted(recorder.ids[:4]) == sorted([first.id, middle.id, middle.id, last.id])
    assert recorder.received[4].type == MARKER
    assert recorder.ids.count(middle.id) == 2


async def test_dead_letters_peek_leaves_them_in_place(harness: Harness) -> None:
    broker = harness.broker
    queue = await harness.queue()
    dead = [envelope(n, dead_letter_reason=f"reason {n}") for n in range(3)]
    for message in dead:
        await broker.publish(f"{queue}.dlq", message)
    assert await broker.dead_letters(queue) == dead
    assert await broker.dead_letters(queue) == dead


async def test_dead_letters_of_a_missing_queue_raise(harness: Harness) -> None:
    with pytest.raises(BrokerError):
        await harness.broker.dead_letters(f"sbtest.missing.{uuid.uuid4().hex}")


async def test_envelope_from_a_foreign_publisher_is_lenient(
    harness: Harness, rabbitmq_url: str
) -> None:
    """Missing properties and odd headers give defaults, never an error."""
    queue = await harness.queue()
    recorder = Recorder()
    await harness.subscribe(queue, recorder)
    connection = await aiormq.connect(rabbitmq_url)
    try:
        channel = await connection.channel()
        headers: FieldTable = {"x-attempt": "three", "x-dead-letter-reason": 42}
        properties = aiormq.spec.Basic.Properties(priority=200, headers=headers)
        await channel.basic_publish(b"odd", routing_key=queue, properties=properties)
        await channel.basic_publish(b"bare", routing_key=queue)
    finally:
        await connection.close()
    odd, bare = await recorder.wait_for(2)
    # (aiormq gives every published message an id)
    assert odd == Envelope(id=odd.id, type="", body=b"odd", priority=9)
    assert bare == Envelope(id=bare.id, type="", body=b"bare")


def test_envelope_takes_an_undecodable_reason_as_it_can() -> None:
    """A long string header that is not UTF-8 arrives as bytes."""
    properties = aiormq.spec.Basic.Properties(
        message_id="m-1",
        message_type="test.Ping",
        correlation_id="c-1",
        priority=3,
        headers={"x-attempt": 4, "x-dead-letter-reason": b"caf\xc3\xa9 \xff"},
    )
    delivered = DeliveredMessage(
        delivery=aiormq.spec.Basic.Deliver(delivery_tag=1),
        header=ContentHeader(properties=properties),
        body=b"{}",
        channel=cast("AbstractChannel", None),
    )
    assert to_envelope(delivered) == Envelope(
        id="m-1",
        type="test.Ping",
        body=b"{}",
        correlation_id="c-1",
        attempt=4,
        priority=3,
        dead_letter_reason="caf\u00e9 \ufffd",
    )
