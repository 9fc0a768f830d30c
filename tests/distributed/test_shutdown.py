"""Graceful shutdown: SIGTERM makes a process drain and hand its agents to another one."""

from __future__ import annotations

import asyncio
import signal

import pytest

from router.store import RedisStore
from tests.clients import AgentClient
from tests.distributed.cluster import Cluster, cluster_config

GRACE = 10.0


def seen(*clients: AgentClient, session_id: str) -> list[str]:
    """Customer texts of a session over several sockets of one agent (by seq, in order)."""
    by_seq: dict[int, str] = {}
    for client in clients:
        by_seq.update({m["seq"]: m["text"] for m in client.inbound(session_id)})
    return [by_seq[s] for s in sorted(by_seq)]


@pytest.mark.distributed
@pytest.mark.rabbitmq
@pytest.mark.redis
async def test_sigterm_drains_and_the_agent_keeps_its_conversations(
    cluster: Cluster, redis_url: str
) -> None:
    per_session, sessions_count = 30, 2
    a = cluster.add("a", cluster_config())
    b = cluster.add("b", cluster_config())
    for node in (a, b):
        node.env["SWITCHBOARD_SHUTDOWN_GRACE_SECONDS"] = str(GRACE)
    await a.start()  # first to subscribe: a is the active consumer of every partition
    await b.start()
    ann = await cluster.agent(a, "ann")
    await ann.set_state("ready")
    customers = [await cluster.customer(b) for _ in range(sessions_count)]
    sessions: list[str] = []
    for customer in customers:
        await customer.say("m0")
        offer = await ann.expect("offer", lambda f: f["session_id"] not in sessions)
        await ann.accept(offer)
        sessions.append(offer["session_id"])

    async def burst(customer_index: int) -> None:
        for i in range(1, per_session):
            await customers[customer_index].say(f"m{i}")

    bursts = [asyncio.create_task(burst(i)) for i in range(sessions_count)]
    await ann.wait_until(lambda: sum(len(ann.texts(s)) for s in sessions) >= 12)
    assert a.proc is not None
    loop = asyncio.get_running_loop()
    terminated_at = loop.time()
    a.proc.send_signal(signal.SIGTERM)

    assert await ann.wait_closed() == 1012, "the agent is told to reconnect (service restart)"
    exit_code = await asyncio.wait_for(a.proc.wait(), GRACE + 5)
    assert exit_code == 0
    assert loop.time() - terminated_at < GRACE + 5
    await asyncio.gather(*bursts)

    # The agent reconnects to the other process and finds its conversations there.
    again = await cluster.agent(b, "ann")
    await again.wait_until(
        lambda: {f["session"]["id"] for f in again.of("assigned")} >= set(sessions)
    )
    expected = [f"m{i}" for i in range(per_session)]
    await again.wait_until(
        lambda: all(seen(ann, again, session_id=s) == expected for s in sessions)
    )
    await again.reply(sessions[0], "still with you")
    await customers[0].expect_text("still with you")
    await customers[1].say("one more")
    await again.expect("message", lambda f: f["message"]["text"] == "one more")

    store = RedisStore.from_url(redis_url)
    try:
        for sid in sessions:
            session = await store.load_session("acme", sid)
            assert session is not None
            assert session.agent == "ann"
            inbound = [m.text for m in session.history if m.direction == "inbound"]
            assert inbound[:per_session] == expected, "lost, filed twice or out of order"
    finally:
        await store.close()
