"""The ``queue.status`` event (router.queue_events): emitted per queue when its statistics
change, never when they do not, and once per change across the processes of one system."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient, TestServer

from queues.memory import InMemoryBroker
from router.config import Config
from router.models import AgentState
from router.provisioning import apply_config
from router.queue_events import signature
from router.runtime import Runtime
from router.settings import Settings
from router.store import RedisStore
from router.store.events import StoredSubscription
from router.store.memory import MemoryRedis
from tests.clients import AgentClient, eventually
from tests.router.conftest import agent, tenant
from tests.router.test_event_webhooks import Receiver, subscribe

Client = TestClient[Any, Any]
ConnectAgent = Callable[..., Awaitable[AgentClient]]
STATS_FIELDS = {
    "queue", "queue_length", "longest_waiting_seconds", "logged_on_agents",
    "ready_idle_agents", "not_ready_agents", "working_agents", "active_agents",
}  # fmt: skip


@pytest.fixture
def config_data() -> dict[str, Any]:
    acme = tenant("acme")
    acme["agents"] = [*acme["agents"], agent("root", role="tenant_admin", queues=[])]
    return {"tenants": [acme, tenant("globex")]}


@pytest.fixture
async def receiver(
    aiohttp_server: Callable[..., Awaitable[TestServer]],
) -> tuple[Receiver, TestServer]:
    from aiohttp import web

    rec = Receiver()
    app = web.Application()
    app.router.add_post("/{name}", rec.handle)
    return rec, await aiohttp_server(app)


def of_queue(rec: Receiver, queue: str) -> list[dict[str, Any]]:
    got = [e for e in rec.delivered() if e["type"] == "queue.status"]
    return sorted(
        (e for e in got if e["data"]["queue"] == queue), key=lambda e: str(e["created_at"])
    )


async def test_emitted_on_change_and_not_without_one(
    client: Client,
    runtime: Runtime,
    receiver: tuple[Receiver, TestServer],
    connect_agent: ConnectAgent,
) -> None:
    runtime.queue_events.throttle = 0.0  # every change, however close
    rec = receiver[0]
    await subscribe(client, receiver, ["queue.status"])
    ann = await connect_agent("ann")

    async def ann_ready() -> bool:
        return any(
            e["data"]["ready_idle_agents"] == 1 and e["data"]["logged_on_agents"] == 1
            for e in of_queue(rec, "support")
        )

    await eventually(ann_ready, "queue.status with ann ready")
    # Nothing changed since: no process emits anything.
    assert await runtime.queue_events.check() == 0
    await ann.set_state("not_ready", "Lunch")

    async def ann_not_ready() -> bool:
        last = of_queue(rec, "support")[-1]["data"]
        return bool(last["not_ready_agents"] == 1 and last["ready_idle_agents"] == 0)

    await eventually(ann_not_ready, "queue.status with ann not ready")
    assert await runtime.queue_events.check() == 0
    events = of_queue(rec, "support")
    assert all(e["tenant"] == "acme" for e in events)
    assert all(set(e["data"]) == STATS_FIELDS for e in events)
    # Only changes: no two consecutive events carry the same statistics.
    counts = [{k: v for k, v in e["data"].items() if k != "longest_waiting_seconds"}
              for e in events]  # fmt: skip
    assert all(a != b for a, b in itertools.pairwise(counts))
    # The billing queue (nobody of it logged on) was reported once, then never again.
    assert len(of_queue(rec, "billing")) == 1
    assert of_queue(rec, "billing")[0]["data"]["logged_on_agents"] == 0
    # Another tenant without a subscription: nothing.
    assert not [e for e in rec.delivered() if e["tenant"] != "acme"]


async def _runtimes(store_client: Any) -> AsyncIterator[tuple[Runtime, Runtime]]:
    """Two processes of one system: one store, each with its own broker and event bus."""
    config = Config.parse({"tenants": [tenant("acme"), tenant("globex")]})
    built = []
    for node in ("n1", "n2"):
        rt = Runtime.build(
            Settings(node_id=node), config, store=RedisStore(store_client), broker=InMemoryBroker()
        )
        await rt.broker.start()
        await rt.events.declare()
        built.append(rt)
    await apply_config(built[0].store, config)
    await built[0].store.events.put(StoredSubscription(
        id="s1", tenant="acme", url="http://127.0.0.1:9/hook", events=("queue.status",),
        secret="x" * 20, created_at="2026-01-01T00:00:00+00:00",
    ))  # fmt: skip
    yield built[0], built[1]
    for rt in built:
        await rt.broker.close()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def two_runtimes(
    request: pytest.FixtureRequest,
) -> AsyncIterator[tuple[Runtime, Runtime]]:
    if request.param == "redis":
        real = aioredis.Redis.from_url(request.getfixturevalue("redis_url"), decode_responses=True)
        await real.flushdb()
        async for pair in _runtimes(real):
            yield pair
        await real.flushdb()
        await real.aclose()
    else:
        async for pair in _runtimes(MemoryRedis()):
            yield pair


async def test_each_change_is_emitted_once_across_two_runtimes(
    two_runtimes: tuple[Runtime, Runtime],
) -> None:
    one, two = two_runtimes
    for rt in (one, two):
        rt.queue_events.throttle = 0.0
    store = one.store

    async def both_check() -> int:
        counts = await asyncio.gather(one.queue_events.check(), two.queue_events.check())
        assert one.events.published + two.events.published >= sum(counts)
        return sum(counts)

    # First look: both queues of the subscribed tenant, once each.
    assert await both_check() == 2
    assert await both_check() == 0
    # Changes: ann (support) logs on and goes ready, then not ready; cat (billing) logs on.
    steps: list[tuple[str, AgentState, str | None]] = [
        ("ann", AgentState.READY, None),
        ("ann", AgentState.NOT_READY, "Lunch"),
        ("cat", AgentState.READY, None),
    ]
    for agent_id, state, reason in steps:
        await store.set_presence("acme", agent_id, "n1", 60)
        await store.set_agent_state("acme", agent_id, state, reason)
        assert await both_check() == 1
        assert await both_check() == 0
    assert one.events.published + two.events.published == 2 + len(steps)


async def test_changes_within_the_throttle_are_coalesced(
    two_runtimes: tuple[Runtime, Runtime],
) -> None:
    one, two = two_runtimes
    one.queue_events.throttle = two.queue_events.throttle = 60.0
    store = one.store
    assert await one.queue_events.check() == 2
    await store.set_presence("acme", "ann", "n1", 60)
    await store.set_agent_state("acme", "ann", AgentState.READY)
    # Within the throttle interval of the last emission: held back, by every process.
    assert await one.queue_events.check() == 0
    assert await two.queue_events.check() == 0
    await store.set_agent_state("acme", "ann", AgentState.NOT_READY, "Break")
    # The interval is over (its key expires): the latest statistics go out once.
    await store.client.delete("sb:acme:qsev-hold:support")
    assert await two.queue_events.check() == 1
    assert await one.queue_events.check() == 0
    latest = await store.queue_stats("acme", "support")
    assert latest.not_ready_agents == 1
    assert await store.client.get("sb:acme:qsev:support") == signature(latest)
