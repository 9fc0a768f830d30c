"""Bounded in-memory buffers: the embedded broker refuses past its bound (publishers answer
503, senders retry) and keeps a bounded number of dead letters."""

from __future__ import annotations

import pytest

from queues.base import BrokerError, Envelope, QueueSpec, Reject
from queues.memory import InMemoryBroker


def env(n: int) -> Envelope:
    return Envelope(id=str(n), type="t", body=b"{}")


async def test_a_full_queue_refuses_new_messages() -> None:
    broker = InMemoryBroker(max_ready=3)
    await broker.start()
    await broker.declare(QueueSpec(name="q"))
    for i in range(3):
        await broker.publish("q", env(i))
    with pytest.raises(BrokerError, match="full"):
        await broker.publish("q", env(3))
    await broker.declare(QueueSpec(name="other"))
    await broker.publish("other", env(4))  # other queues are not affected
    await broker.close()


async def test_dead_letters_are_bounded_oldest_dropped() -> None:
    broker = InMemoryBroker(max_dead=2)
    await broker.start()
    await broker.declare(QueueSpec(name="q"))

    async def reject(e: Envelope) -> None:
        raise Reject("no")

    for i in range(4):
        await broker.publish("q", env(i))
    await broker.subscribe("q", reject)
    await broker.join()
    dead = await broker.dead_letters("q")
    assert [d.id for d in dead] == ["2", "3"]
    await broker.close()
