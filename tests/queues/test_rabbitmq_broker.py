"""The broker contract on a real RabbitMQ (``--rabbitmq-url``)."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

import aiormq
import pytest

from queues import RabbitBroker
from queues.base import BrokerError, Envelope, QueueSpec
from tests.contracts.broker import BrokerContract

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from tests.contracts.broker import AdminBroker

pytestmark = pytest.mark.rabbitmq


class TestRabbitBroker(BrokerContract):
    @pytest.fixture
    def make_broker(self, rabbitmq_url: str) -> Callable[[], AdminBroker]:
        return lambda: RabbitBroker(rabbitmq_url)


@pytest.fixture
async def broker(rabbitmq_url: str) -> AsyncIterator[RabbitBroker]:
    rabbit = RabbitBroker(rabbitmq_url)
    await rabbit.start()
    yield rabbit
    await rabbit.close()


async def test_redeclare_with_other_arguments_raises_and_broker_recovers(
    broker: RabbitBroker,
) -> None:
    name = f"sbtest.{uuid.uuid4().hex}"
    try:
        await broker.declare(QueueSpec(name=name, max_priority=3))
        with pytest.raises(BrokerError):
            await broker.declare(QueueSpec(name=name, max_priority=5))
        await broker.declare(QueueSpec(name=name, max_priority=3))
        assert await broker.dead_letters(name) == []
    finally:
        await broker.delete_queue(name)


async def test_start_fails_with_broker_error_when_unreachable() -> None:
    with pytest.raises(BrokerError):
        await RabbitBroker("amqp://guest:guest@127.0.0.1:1/", timeout=2).start()


async def test_publish_whose_confirm_is_lost_with_the_connection_raises_broker_error(
    broker: RabbitBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """aiormq cancels a pending confirm when the connection drops under it: the publisher
    must hear "not confirmed" (BrokerError), not a CancelledError it never asked for, while
    a real cancellation of the publishing task still propagates."""
    name = f"sbtest.{uuid.uuid4().hex}"
    loop = asyncio.get_running_loop()
    waiting: asyncio.Queue[asyncio.Future[None]] = asyncio.Queue()

    async def confirm_lost(*_: object, **__: object) -> None:
        confirm: asyncio.Future[None] = loop.create_future()
        waiting.put_nowait(confirm)
        await confirm

    await broker.declare(QueueSpec(name=name))
    try:
        monkeypatch.setattr(aiormq.Channel, "basic_publish", confirm_lost)
        lost = asyncio.create_task(broker.publish(name, Envelope(id="1", type="t", body=b"x")))
        (await waiting.get()).cancel()  # the connection went away under the publish
        with pytest.raises(BrokerError, match="not confirmed"):
            await lost

        cancelled = asyncio.create_task(broker.publish(name, Envelope(id="2", type="t", body=b"x")))
        await waiting.get()
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
    finally:
        monkeypatch.undo()
        await broker.delete_queue(name)
