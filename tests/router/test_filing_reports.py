"""Filing reports over the node queues (router.delivery): a process that submitted a message
learns which session it was filed under from whichever process filed it — through the
in-process broker, and through RabbitMQ between two connections (``--rabbitmq-url``)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from queues import InMemoryBroker, RabbitBroker
from queues.base import Broker
from router.delivery import Delivery, LocalSockets
from router.events import FilingReport
from router.store import RedisStore
from router.store.memory import MemoryRedis

TIMEOUT = 5.0


@pytest.fixture(params=["memory", pytest.param("rabbitmq", marks=pytest.mark.rabbitmq)])
async def nodes(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Delivery, Delivery]]:
    """Two processes' deliveries: one broker in this process, or one RabbitMQ connection
    each."""
    brokers: list[Broker]
    if request.param == "memory":
        shared = InMemoryBroker()
        brokers = [shared, shared]
    else:
        url = request.getfixturevalue("rabbitmq_url")
        brokers = [RabbitBroker(url), RabbitBroker(url)]
    for broker in dict.fromkeys(brokers):
        await broker.start()
    store = RedisStore(MemoryRedis())
    suffix = uuid.uuid4().hex[:8]
    pair = tuple(
        Delivery(store, broker, LocalSockets(), f"{name}-{suffix}")
        for name, broker in zip("ab", brokers, strict=True)
    )
    for delivery in pair:
        await delivery.start()
    yield pair[0], pair[1]
    for broker in dict.fromkeys(brokers):
        await broker.close()


def report(tenant: str, key: str, session_id: str) -> FilingReport:
    return FilingReport(tenant=tenant, dedupe_key=key, session_id=session_id)


async def test_the_filing_process_tells_the_waiting_one(nodes: tuple[Delivery, Delivery]) -> None:
    a, b = nodes
    with a.expect_filing("acme", "routing:web:dana:m1") as filed:
        await b.report_filing(a.node_id, report("acme", "routing:web:dana:m1", "s-1"))
        assert await asyncio.wait_for(filed, TIMEOUT) == "s-1"


async def test_only_the_same_tenant_and_key_resolve_a_wait(
    nodes: tuple[Delivery, Delivery],
) -> None:
    a, b = nodes
    with a.expect_filing("acme", "k1") as filed:
        # Node queues keep their order: by the time the third report resolves the wait,
        # the first two were handled and must have left it alone.
        await b.report_filing(a.node_id, report("globex", "k1", "wrong-tenant"))
        await b.report_filing(a.node_id, report("acme", "k2", "wrong-key"))
        await b.report_filing(a.node_id, report("acme", "k1", "s-right"))
        assert await asyncio.wait_for(filed, TIMEOUT) == "s-right"


async def test_every_request_waiting_for_a_message_hears_of_it(
    nodes: tuple[Delivery, Delivery],
) -> None:
    """Two requests carrying the same message (a client retrying before the first answer)."""
    a, b = nodes
    with a.expect_filing("acme", "k") as first, a.expect_filing("acme", "k") as second:
        await b.report_filing(a.node_id, report("acme", "k", "s-1"))
        both = await asyncio.wait_for(asyncio.gather(first, second), TIMEOUT)
        assert list(both) == ["s-1", "s-1"]


async def test_a_report_to_this_process_needs_no_broker(nodes: tuple[Delivery, Delivery]) -> None:
    a, _ = nodes
    with a.expect_filing("acme", "k") as filed:
        await a.report_filing(a.node_id, report("acme", "k", "s-1"))
        assert filed.done()
        assert filed.result() == "s-1"


async def test_a_wait_ends_with_its_block(nodes: tuple[Delivery, Delivery]) -> None:
    a, b = nodes
    with a.expect_filing("acme", "k") as filed:
        pass
    assert filed.cancelled()
    # A late report finds nobody waiting and harms nothing; the next wait still works.
    await a.report_filing(a.node_id, report("acme", "k", "late"))
    with a.expect_filing("acme", "k") as again:
        await b.report_filing(a.node_id, report("acme", "k", "s-2"))
        assert await asyncio.wait_for(again, TIMEOUT) == "s-2"
