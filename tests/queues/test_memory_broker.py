"""The broker contract on ``InMemoryBroker``, plus what only the embedded broker offers."""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

import pytest

from queues import InMemoryBroker, RabbitBroker, make_broker
from queues.base import BrokerError, Envelope, QueueSpec, Retry
from tests.contracts.broker import BrokerContract

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.contracts.broker import AdminBroker


class TestInMemoryBroker(BrokerContract):
    @pytest.fixture
    def make_broker(self) -> Callable[[], AdminBroker]:
        return InMemoryBroker


def _envelope(n: int) -> Envelope:
    return Envelope(id=f"m{n}", type="test.Ping", body=b"{}")


async def test_join_waits_for_handlers_and_delayed_retries() -> None:
    broker = InMemoryBroker()
    await broker.start()
    await broker.join()  # idle right away
    await broker.declare(QueueSpec(name="q"))
    handled: list[tuple[str, int]] = []

    async def handler(message: Envelope) -> None:
        handled.append((message.id, message.attempt))
        if message.attempt == 1 and message.id == "m0":
            raise Retry(0.02)

    await broker.subscribe("q", handler, prefetch=2)
    for n in range(3):
        await broker.publish("q", _envelope(n))
    await asyncio.wait_for(broker.join(), 5)
    assert sorted(handled) == [("m0", 1), ("m0", 2), ("m1", 1), ("m2", 1)]
    await broker.close()


async def test_redeclare_with_another_shape_raises() -> None:
    broker = InMemoryBroker()
    await broker.start()
    await broker.declare(QueueSpec(name="q", max_priority=3))
    await broker.declare(QueueSpec(name="q", max_priority=3, max_attempts=2))
    with pytest.raises(BrokerError):
        await broker.declare(QueueSpec(name="q"))
    await broker.close()


async def test_use_before_start_raises() -> None:
    with pytest.raises(BrokerError):
        await InMemoryBroker().publish("q", _envelope(0))


def test_make_broker_picks_by_scheme() -> None:
    assert isinstance(make_broker("memory://"), InMemoryBroker)
    assert isinstance(make_broker("amqp://guest:guest@localhost:5672/"), RabbitBroker)
    assert isinstance(make_broker("AMQPS://rabbit.example/"), RabbitBroker)
    secret = uuid.uuid4().hex
    with pytest.raises(ValueError, match="'redis'") as failure:
        make_broker(f"redis://user:{secret}@localhost/")
    assert secret not in str(failure.value)
