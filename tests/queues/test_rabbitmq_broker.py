"""The broker contract on a real RabbitMQ (``--rabbitmq-url``)."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from queues import RabbitBroker
from queues.base import BrokerError, QueueSpec
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
