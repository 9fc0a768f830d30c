"""Fixtures of the chaos suite: private RabbitMQ and Redis per module, and per test a
cluster of switchboard processes with agents, a fake Telegram Bot API and webhook traffic."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from router.store import RedisStore
from tests.chaos.harness import (
    PARTITIONS,
    ChaosAgent,
    FakeBotApi,
    Traffic,
    chaos_config,
    verify,
)
from tests.chaos.services import PrivateRabbit, PrivateRedis, private_services
from tests.distributed.cluster import Cluster, Node, vhost_url


@pytest.fixture(scope="module")
def services(request: pytest.FixtureRequest) -> Iterator[tuple[PrivateRabbit, PrivateRedis]]:
    """This module's own RabbitMQ node and Redis server (never the shared ones)."""
    if not (request.config.getoption("--rabbitmq-url") and request.config.getoption("--redis-url")):
        pytest.skip(
            "the chaos suite runs with the real-service tests (--rabbitmq-url, --redis-url)"
        )
    with private_services() as started:
        yield started


@dataclass
class Chaos:
    rabbit: PrivateRabbit
    redis: PrivateRedis
    cluster: Cluster
    fake: FakeBotApi
    broker_url: str
    nodes: list[Node] = field(default_factory=list)
    agents: list[ChaosAgent] = field(default_factory=list)
    traffic: Traffic | None = None

    async def start(self, processes: int, chats: int = 4) -> Traffic:
        """Start the processes (the first is every partition's active consumer), one agent on
        each of the first two, and the stream of webhooks."""
        config = chaos_config(self.fake.url)
        for i in range(processes):
            node = self.cluster.add(f"n{i}", config)
            node.env.update(
                SWITCHBOARD_PARTITIONS=str(PARTITIONS),
                SWITCHBOARD_PARTY_MESSAGES_PER_WINDOW="0",
                SWITCHBOARD_SHUTDOWN_GRACE_SECONDS="10",
            )
            self.nodes.append(node)
        for node in self.nodes:
            await node.start()
        for username, node in zip(("ann", "ben"), self.nodes, strict=False):
            agent = ChaosAgent(self.cluster, username, self.nodes)
            await agent.start(node)
            self.agents.append(agent)
        self.traffic = Traffic(self.cluster.http, self.nodes, [1000 + i for i in range(chats)])
        self.traffic.start()
        return self.traffic

    async def finish(self) -> dict[str, object]:
        """Stop the stream and check every promise."""
        assert self.traffic is not None
        await self.traffic.stop()
        print(f"chaos: {self.traffic.statuses} {self.traffic.unexpected[:3]}", flush=True)
        try:
            return await verify(
                self.traffic, self.agents, self.fake, self.redis.url, self.broker_url
            )
        except AssertionError:
            for node in self.nodes:  # the processes' warnings, shown with the failure
                print(f"--- {node.name}:\n{''.join(node.output[-10:])}", flush=True)
            store = RedisStore.from_url(self.redis.url)
            for agent in self.agents:
                for sid in agent.seen:
                    history = await store.history("acme", sid)
                    print(f"chaos: filed in {sid}: {[m.text for m in history][-30:]}")
            await store.close()
            vhost = self.broker_url.rsplit("/", 1)[1]
            await self.rabbit.actl("list_queues", "-p", vhost, "name", "messages_ready",
                                   "messages_unacknowledged", "consumers")  # fmt: skip
            raise


@pytest.fixture
async def chaos(
    services: tuple[PrivateRabbit, PrivateRedis], tmp_path: Path
) -> AsyncIterator[Chaos]:
    rabbit, redis = services
    vhost = f"chaos-{uuid.uuid4().hex[:8]}"
    await rabbit.actl("add_vhost", vhost)
    await rabbit.actl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    client = aioredis.Redis.from_url(redis.url)
    await client.flushall()
    await client.aclose()
    fake = FakeBotApi()
    await fake.start()
    cluster = Cluster(tmp_path, rabbit.url, redis.url, vhost)
    run = Chaos(rabbit, redis, cluster, fake, vhost_url(rabbit.url, vhost))
    try:
        yield run
    finally:
        if run.traffic is not None:
            await run.traffic.stop()
        for agent in run.agents:
            await agent.stop()
        await cluster.close()
        await fake.close()
        await rabbit.actl("delete_vhost", vhost)
