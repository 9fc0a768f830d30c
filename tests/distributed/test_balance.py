"""Two ``switchboard serve`` processes share the partitions' active consumers: a process
that joins gets about half of them, and the other takes them back when it goes away; every
message still reaches the agent (and every reply the customer) once, in order."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from prometheus_client.parser import text_string_to_metric_families

from queues import names
from router.store import RedisStore
from router.webchat import sign_visitor
from tests.clients import AgentClient, CustomerClient
from tests.distributed.cluster import Cluster, Node, cluster_config

pytestmark = [pytest.mark.distributed, pytest.mark.rabbitmq, pytest.mark.redis]

PARTITIONS = 4  # the cluster's SWITCHBOARD_PARTITIONS
PER_PARTITION = 2
DEADLINE = 30.0  # bounds a failure only: every wait is on a condition
ALL = {"in": PARTITIONS, "out": PARTITIONS}
HALF = {"in": PARTITIONS // 2, "out": PARTITIONS // 2}


def visitors() -> list[str]:
    """Web-chat visitor ids whose sessions fall ``PER_PARTITION`` times in every partition."""
    found: dict[int, list[str]] = {p: [] for p in range(PARTITIONS)}
    n = 0
    while any(len(v) < PER_PARTITION for v in found.values()):
        visitor = f"visitor{n}"
        bucket = found[names.partition_of(f"acme|web|{visitor}", PARTITIONS)]
        if len(bucket) < PER_PARTITION:
            bucket.append(visitor)
        n += 1
    return [v for bucket in found.values() for v in bucket]


async def active(cluster: Cluster, node: Node) -> dict[str, int]:
    """The node's ``switchboard_partitions_active`` gauge, by queue kind."""
    async with cluster.http.get(node.url + "/metrics") as resp:
        text = await resp.text()
    for family in text_string_to_metric_families(text):
        if family.name == "switchboard_partitions_active":
            return {s.labels["queue"]: int(s.value) for s in family.samples}
    return {}


class Conversations:
    """One agent and customers on every partition, talking in rounds: every customer says
    ``m{k}``, the agent gets each, answers ``r{k}``, every customer gets its answer."""

    def __init__(self, ann: AgentClient, customers: list[CustomerClient]) -> None:
        self.ann = ann
        self.customers = customers
        self.sessions: list[str] = []
        self.rounds = 0

    async def open(self) -> None:
        for customer in self.customers:
            await customer.say("m0")
            offer = await self.ann.expect("offer", lambda f: f["session_id"] not in self.sessions)
            await self.ann.accept(offer)
            self.sessions.append(offer["session_id"])
        await self._answer()

    async def round(self) -> None:
        self.rounds += 1
        k = self.rounds
        for customer in self.customers:
            await customer.say(f"m{k}")
        await self.ann.wait_until(
            lambda: all(self.ann.texts(s)[-1:] == [f"m{k}"] for s in self.sessions)
        )
        await self._answer()

    async def _answer(self) -> None:
        k = self.rounds
        for session in self.sessions:
            await self.ann.reply(session, f"r{k}")
        for customer in self.customers:
            await customer.wait_until(lambda c=customer: f"r{k}" in replies(c))

    def expected(self, prefix: str) -> list[str]:
        return [f"{prefix}{k}" for k in range(self.rounds + 1)]


def replies(customer: CustomerClient) -> list[str]:
    """Agent texts the customer got, once per message (by seq), in order."""
    by_seq = {
        f["message"]["seq"]: f["message"]["text"]
        for f in customer.of("message")
        if f["message"]["direction"] == "outbound"
    }
    return [by_seq[s] for s in sorted(by_seq)]


async def talk_until(
    talk: Conversations, cluster: Cluster, wanted: list[tuple[Node, dict[str, int]]], what: str
) -> None:
    """Talk in rounds until every node's gauge shows what ``wanted`` says for it."""

    async def reached() -> bool:
        return all([await active(cluster, n) == w for n, w in wanted])

    async def loop() -> None:
        await talk.round()
        while not await reached():
            await talk.round()

    try:
        async with asyncio.timeout(DEADLINE) as deadline:
            await loop()
    except TimeoutError:
        if not deadline.expired():
            raise  # a round's own wait failed: a message or reply did not arrive
        seen = {n.name: await active(cluster, n) for n, _ in wanted}
        raise AssertionError(f"timed out waiting for {what}: {seen}") from None


@pytest.mark.parametrize("leave", ["sigterm", "sigkill"])
async def test_a_joining_process_takes_half_the_partitions_and_gives_them_back(
    cluster: Cluster, redis_url: str, leave: str
) -> None:
    a = cluster.add("a", cluster_config(agent_capacity=PARTITIONS * PER_PARTITION))
    b = cluster.add("b", cluster_config(agent_capacity=PARTITIONS * PER_PARTITION))
    for node in (a, b):  # the agent answers every conversation at once, round after round
        node.env["SWITCHBOARD_AGENT_WS_FRAMES_PER_SECOND"] = "1000"
    await a.start()
    store = RedisStore.from_url(redis_url)
    try:
        secret = await store.shared_secret()
        ann = await cluster.agent(a, "ann")
        await ann.set_state("ready")
        customers = [
            await cluster.customer(a, visitor=sign_visitor(secret, "acme", "web", v))
            for v in visitors()
        ]
        talk = Conversations(ann, customers)
        await talk.open()
        await talk_until(talk, cluster, [(a, ALL)], "a alone to be active everywhere")

        await b.start()
        await talk_until(talk, cluster, [(a, HALF), (b, HALF)], "b to take half the partitions")

        if leave == "sigterm":
            await b.stop()
        else:
            await b.kill()
        await talk_until(talk, cluster, [(a, ALL)], "a to take every partition back")

        for session, customer in zip(talk.sessions, customers, strict=True):
            assert ann.texts(session) == talk.expected("m")
            assert replies(customer) == talk.expected("r")
            history = await store.history("acme", session)
            filed = Counter((m.direction, m.text) for m in history)
            assert [m.text for m in history if m.direction == "inbound"] == talk.expected("m")
            assert [m.text for m in history if m.direction == "outbound"] == talk.expected("r")
            assert max(filed.values()) == 1, "filed twice"
    finally:
        await store.close()
