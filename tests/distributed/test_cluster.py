"""Two ``switchboard serve`` processes on real RabbitMQ and Redis form one system."""

from __future__ import annotations

import asyncio

import pytest

from router.store import RedisStore
from tests.distributed.cluster import Cluster, cluster_config

pytestmark = [pytest.mark.distributed, pytest.mark.rabbitmq, pytest.mark.redis]


async def test_customer_on_one_process_agent_on_the_other(cluster: Cluster) -> None:
    a = cluster.add("a", cluster_config())
    b = cluster.add("b", cluster_config())
    await a.start()
    await b.start()
    ann = await cluster.agent(b, "ann")
    await ann.set_state("ready")
    customer = await cluster.customer(a)
    await customer.say("hello from process a")

    offer = await ann.expect("offer")
    assert [m["text"] for m in offer["history"]] == ["hello from process a"]
    await ann.accept(offer)
    await ann.reply(offer["session_id"], "hello from process b")
    await customer.expect_text("hello from process b")
    await customer.say("thanks")
    await ann.expect("message", lambda f: f["message"]["text"] == "thanks")


async def test_sigkill_in_a_burst_loses_nothing_and_keeps_order(
    cluster: Cluster, redis_url: str
) -> None:
    per_session, sessions_count = 50, 4
    a = cluster.add("a", cluster_config())
    b = cluster.add("b", cluster_config())
    await a.start()  # first to subscribe: a is the active consumer of every partition
    await b.start()
    ann = await cluster.agent(b, "ann")
    await ann.set_state("ready")
    customers = [await cluster.customer(b) for _ in range(sessions_count)]
    sessions: list[str] = []
    for customer in customers:
        await customer.say("m0")
        offer = await ann.expect("offer", lambda f: f["session_id"] not in sessions)
        await ann.accept(offer)
        sessions.append(offer["session_id"])

    def received() -> int:
        return sum(len(ann.texts(s)) for s in sessions)

    async def burst(customer_index: int) -> None:
        for i in range(1, per_session):
            await customers[customer_index].say(f"m{i}")

    bursts = [asyncio.create_task(burst(i)) for i in range(sessions_count)]
    await ann.wait_until(lambda: received() >= 60)
    at_kill = received()
    await a.kill()
    await asyncio.gather(*bursts)
    expected = [f"m{i}" for i in range(per_session)]
    await ann.wait_until(lambda: all(len(ann.texts(s)) >= per_session for s in sessions))
    assert at_kill < per_session * sessions_count, "the kill landed after the burst"

    await a.start()  # the killed process comes back and rejoins
    for customer in customers:
        await customer.say("after restart")
    await ann.wait_until(lambda: all(len(ann.texts(s)) == per_session + 1 for s in sessions))

    store = RedisStore.from_url(redis_url)
    try:
        for sid in sessions:
            assert ann.texts(sid) == [*expected, "after restart"]
            history = await store.history("acme", sid)
            inbound = [m.text for m in history if m.direction == "inbound"]
            assert inbound == [*expected, "after restart"], "filed twice or out of order"
    finally:
        await store.close()
