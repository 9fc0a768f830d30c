"""Spreading the partitions' single active consumers over processes (``router.partitions``):
the preference and hand-over rules, node registration, and two balancers sharing one broker
and one store in this process (the in-memory broker with ``distributed`` switched on, so it
behaves like a broker shared by two processes)."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis

from queues import InMemoryBroker
from queues.base import Envelope, Handler, QueueSpec
from router.metrics import Metrics
from router.partitions import (
    MAX_BACKOFF,
    PartitionConsumers,
    backoff,
    preferred,
    should_hand_over,
    start_order,
)
from router.settings import Settings
from router.store.members import NODES_KEY, MemberStore
from router.store.memory import MemoryRedis

TIMEOUT = 5.0
QUEUES = [f"p.{i}" for i in range(4)]

# -- preference and decisions ---------------------------------------------------------


@pytest.mark.parametrize("count", [1, 2, 3])
@pytest.mark.parametrize("slots", [4, 8, 16])
def test_preferred_splits_every_partition_evenly_and_alike_everywhere(
    count: int, slots: int
) -> None:
    nodes = [f"node-{i}" for i in range(count)]
    shares = {n: preferred(slots, reversed(nodes), n) for n in nodes}
    assert set().union(*shares.values()) == set(range(slots))
    assert sum(len(s) for s in shares.values()) == slots, "each partition has one preferrer"
    sizes = [len(s) for s in shares.values()]
    assert max(sizes) - min(sizes) <= 1
    for node in nodes:  # the order the nodes are listed in does not matter
        assert preferred(slots, nodes, node) == shares[node]


def test_preferred_counts_the_asking_node_as_live() -> None:
    assert preferred(4, [], "a") == {0, 1, 2, 3}
    assert preferred(4, ["b"], "a") == {0, 2}
    assert preferred(4, ["a", "b"], "b") == {1, 3}


def test_inbound_and_outbound_slots_spread_the_remainder() -> None:
    # 3 nodes, 4 inbound (slots 0-3) then 4 outbound (4-7) partitions: 3, 3 and 2 in all.
    totals = sorted(len(preferred(8, ["a", "b", "c"], n)) for n in "abc")
    assert totals == [2, 3, 3]


def test_start_order_puts_the_preferred_partitions_first() -> None:
    assert start_order(6, frozenset({1, 4})) == [1, 4, 0, 2, 3, 5]


@pytest.mark.parametrize(
    ("delivered", "is_preferred", "others", "due", "expected"),
    [
        (True, False, True, True, True),
        (False, False, True, True, False),  # not active here (or idle): nothing to hand over
        (True, True, True, True, False),  # this node prefers it: keep it
        (True, False, False, True, False),  # alone: nobody to hand over to
        (True, False, True, False, False),  # backing off after a hand-over that did not stick
    ],
)
def test_should_hand_over(
    delivered: bool, is_preferred: bool, others: bool, due: bool, expected: bool
) -> None:
    decision = should_hand_over(delivered=delivered, preferred=is_preferred, others=others, due=due)
    assert decision is expected


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff(0.5, f) for f in range(4)] == [0.5, 1.0, 2.0, 4.0]
    assert backoff(0.5, 60) == 0.5 * MAX_BACKOFF


def test_balance_interval_defaults_to_ten_ticks() -> None:
    assert Settings(tick_seconds=0.05).balance_interval == pytest.approx(0.5)
    assert Settings().balance_interval == pytest.approx(5.0)
    env = {"SWITCHBOARD_PARTITION_BALANCE_SECONDS": "2.5"}
    assert Settings.from_env(env).balance_interval == 2.5


# -- node registration ----------------------------------------------------------------


async def test_members_register_expire_and_leave(redis_client: aioredis.Redis) -> None:
    members = MemberStore(redis_client)
    assert await members.refresh("b", 60) == ["b"]
    assert await members.refresh("a", 60) == ["a", "b"]
    await members.refresh("gone", 0)  # expired at once
    assert await members.refresh("b", 60) == ["a", "b"], "expired entries are not live"
    assert await redis_client.zscore(NODES_KEY, "gone") is None
    await members.leave("a")
    assert await members.refresh("b", 60) == ["b"]


# -- two balancers on one broker ------------------------------------------------------


class Node:
    """One simulated process: its balancer and what its handlers saw, per queue."""

    def __init__(
        self,
        name: str,
        broker: InMemoryBroker,
        redis: aioredis.Redis,
        record: Callable[[str, str, Envelope], None],
        metrics: Metrics | None = None,
    ) -> None:
        self.name = name
        self.handled: dict[str, list[str]] = defaultdict(list)
        self.consumers = PartitionConsumers(
            broker, MemberStore(redis), name, interval=60, grace=TIMEOUT, metrics=metrics
        )
        for queue in QUEUES:
            self.consumers.add(queue, self._handler(queue, record), prefetch=8, kind="in")

    def _handler(self, queue: str, record: Callable[[str, str, Envelope], None]) -> Handler:
        async def handle(envelope: Envelope) -> None:
            # Give other tasks a turn, so that work is in flight when a hand-over starts.
            for _ in range(3):
                await asyncio.sleep(0)
            self.handled[queue].append(envelope.id)
            record(self.name, queue, envelope)

        return handle

    def serves(self) -> set[str]:
        return {q for q, ids in self.handled.items() if ids}


class Shared:
    """The broker and store two simulated processes share, and every message handled."""

    def __init__(self) -> None:
        self.broker = InMemoryBroker()
        self.broker.distributed = True  # as if other processes consumed its queues
        self.redis = MemoryRedis()
        self.log: list[tuple[str, str, str]] = []  # (node, queue, message id)
        self.published: dict[str, list[str]] = defaultdict(list)

    def node(self, name: str, metrics: Metrics | None = None) -> Node:
        return Node(name, self.broker, self.redis, self.record, metrics)

    def record(self, node: str, queue: str, envelope: Envelope) -> None:
        self.log.append((node, queue, envelope.id))

    async def traffic(self, rounds: int) -> None:
        """``rounds`` messages on every queue, then wait until all are handled."""
        for _ in range(rounds):
            for queue in QUEUES:
                message_id = uuid.uuid4().hex
                self.published[queue].append(message_id)
                await self.broker.publish(queue, Envelope(id=message_id, type="t", body=b"{}"))
        await asyncio.wait_for(self.broker.join(), TIMEOUT)

    def by_node(self, *names: str) -> dict[str, set[str]]:
        """Which node handled the messages of each queue, among the latest ones."""
        latest: dict[str, set[str]] = defaultdict(set)
        for node, queue, _ in self.log[-len(QUEUES) :]:
            latest[node].add(queue)
        return {n: latest[n] for n in names}


@pytest.fixture
async def shared() -> AsyncIterator[Shared]:
    s = Shared()
    await s.broker.start()
    for queue in QUEUES:
        await s.broker.declare(QueueSpec(name=queue, single_active_consumer=True))
    yield s
    await s.broker.close()
    await s.redis.aclose()


async def test_a_joining_node_gets_its_share_and_a_leaving_one_gives_it_back(
    shared: Shared,
) -> None:
    metrics_a, metrics_b = Metrics(), Metrics()
    a, b = shared.node("a", metrics_a), shared.node("b", metrics_b)
    await a.consumers.start()
    await shared.traffic(1)
    assert a.consumers.active() == 4

    await b.consumers.start()
    await shared.traffic(1)
    assert b.serves() == set(), "b waits in line until a hands over"
    await a.consumers.check()  # a sees b and hands over what b prefers
    await shared.traffic(1)
    assert shared.by_node("a", "b") == {"a": {"p.0", "p.2"}, "b": {"p.1", "p.3"}}

    await a.consumers.check()
    await b.consumers.check()
    await shared.traffic(1)
    assert shared.by_node("a", "b") == {"a": {"p.0", "p.2"}, "b": {"p.1", "p.3"}}, "stable"
    gauge = "switchboard_partitions_active"
    assert metrics_a.registry.get_sample_value(gauge, {"queue": "in"}) == 2
    assert metrics_b.registry.get_sample_value(gauge, {"queue": "in"}) == 2

    await b.consumers.close()  # b leaves: its consumers are gone, a's waiting ones take over
    await shared.traffic(1)
    assert shared.by_node("a") == {"a": set(QUEUES)}
    await a.consumers.check()
    assert a.consumers.nodes == ["a"]
    assert a.consumers.active() == 4
    await a.consumers.close()
    assert_once_in_order(shared)


async def test_hand_over_in_the_middle_of_traffic_keeps_order_and_loses_nothing(
    shared: Shared,
) -> None:
    a, b = shared.node("a"), shared.node("b")
    await a.consumers.start()
    await shared.traffic(1)
    await b.consumers.start()
    for queue in QUEUES:  # work in flight on every partition while a hands over
        for _ in range(20):
            message_id = uuid.uuid4().hex
            shared.published[queue].append(message_id)
            await shared.broker.publish(queue, Envelope(id=message_id, type="t", body=b"{}"))
    await a.consumers.check()
    await shared.traffic(5)
    assert a.serves() == set(QUEUES)
    assert b.serves() == {"p.1", "p.3"}
    await b.consumers.close()
    await a.consumers.close()
    assert_once_in_order(shared)


async def test_no_hand_over_when_the_preferring_node_is_not_in_line(shared: Shared) -> None:
    a = shared.node("a")
    await a.consumers.start()
    # "b" is registered (killed a moment ago, its entry not expired yet) but consumes nothing.
    await MemberStore(shared.redis).refresh("b", 60)
    await shared.traffic(1)
    await a.consumers.check()
    assert a.consumers.nodes == ["a", "b"]
    await shared.traffic(1)
    assert shared.by_node("a") == {"a": set(QUEUES)}, "a keeps every partition"
    assert a.consumers.active() == 4, "and never left the line"
    await a.consumers.close()


async def test_without_a_distributed_broker_nothing_is_balanced(shared: Shared) -> None:
    shared.broker.distributed = False
    a = shared.node("a")
    await a.consumers.start()
    await shared.traffic(1)
    assert a.consumers.active() == 4
    assert await shared.redis.zrange(NODES_KEY, 0, -1) == [], "no registration either"
    await a.consumers.close()


def assert_once_in_order(shared: Shared) -> None:
    """Every published message was handled exactly once, in order per queue, whichever
    node handled it."""
    handled: dict[str, list[str]] = defaultdict(list)
    for _, queue, message_id in shared.log:
        handled[queue].append(message_id)
    assert dict(handled) == dict(shared.published)
