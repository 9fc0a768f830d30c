"""Spreading the ordered partitions' single active consumers over the live processes.

Every process consumes every inbound and outbound partition queue (``queues.names``), each
with a single active consumer: RabbitMQ delivers to the first consumer that registered and,
when it goes away, to the next one in line; it never rebalances by itself, so the process
that started first would file everything. ``PartitionConsumers`` fixes that:

* every process registers itself in the store (``router.store.members``) and reads the live
  ones. Partition queues are numbered in the order they are added (inbound partitions, then
  outbound ones: the same order in every process), and queue ``s`` is *preferred* by the
  live node ``sorted(nodes)[s % len(nodes)]``: every process computes the same answer, and
  each kind is spread as evenly as it can be;
* at start-up a process subscribes to its preferred partitions first;
* every ``interval``, a process hands over each partition it is active on (the queue
  delivered to it since the last check) but does not prefer, provided another live process
  exists and another consumer waits in line: its subscription takes no new deliveries, lets
  the started handlers finish and settle, and closes, so RabbitMQ requeues what it held in
  its order and makes the next consumer in line active; then it subscribes again, at the back
  of the line. With more than two processes a partition may pass through several before it
  reaches the one preferring it, each of them handing it on in turn.

Order holds: the successor becomes active only once every message the predecessor started
was settled. A hand-over never cuts a handler short: if they do not all finish within
``grace`` (a provider call hanging, the store away), it is called off, the held deliveries
are started in their order, and it is tried again later. Failed or fruitless hand-overs
back off (doubling, up to ``MAX_BACKOFF`` intervals) until the live nodes change. A process
that dies is still replaced at once by the next consumer in line (RabbitMQ).

With a broker that lives in this process (``Broker.distributed`` false) there is nobody to
hand over to: the partitions are subscribed once, in order, and nothing else runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from queues.base import Broker, BrokerError, Handler, Subscription
from router.errors import StoreError
from router.tasks import cancel_quietly

if TYPE_CHECKING:
    from router.metrics import Metrics
    from router.store.members import MemberStore

log = logging.getLogger(__name__)
# How long a hand-over waits for the started handlers before it is called off. The
# partition takes no new deliveries meanwhile, so this bounds the pause a hand-over causes.
HAND_OVER_GRACE = 2.0
# A node's registration lasts this many intervals (at least MIN_TTL seconds) past a refresh.
TTL_INTERVALS = 3
MIN_TTL = 5.0
# Backoff of a partition whose hand-overs did not stick, in intervals: 2, 4, ... up to this.
MAX_BACKOFF = 32
# While a partition has no subscription here (re-subscribing failed), retry this often.
RESUBSCRIBE_DELAY = 0.5


def preferred(count: int, nodes: Iterable[str], node: str) -> frozenset[int]:
    """The partition queues (0 .. count-1) ``node`` prefers among the live ``nodes``: the
    same split in every process that sees the same nodes; ``node`` always counts as live."""
    live = sorted({*nodes, node})
    index, size = live.index(node), len(live)
    return frozenset(s for s in range(count) if s % size == index)


def start_order(count: int, mine: frozenset[int]) -> list[int]:
    """Subscription order at start-up: the preferred partition queues first."""
    return sorted(range(count), key=lambda s: (s not in mine, s))


def should_hand_over(*, delivered: bool, preferred: bool, others: bool, due: bool) -> bool:
    """Whether to hand a partition over: this process is its active consumer (``delivered``
    since the last check), does not prefer it, another live process exists (``others``),
    and its backoff is over (``due``)."""
    return delivered and not preferred and others and due


def backoff(interval: float, failures: int) -> float:
    """Seconds until a partition whose last ``failures`` hand-overs did not stick is tried
    again."""
    return interval * min(1 << min(failures, 16), MAX_BACKOFF)


@dataclass
class _Partition:
    queue: str
    handler: Handler
    prefetch: int
    kind: str
    subscription: Subscription | None = None
    # ``subscription.deliveries`` at the last check.
    seen: int = 0
    # Hand-overs tried since the live nodes last changed, and when the next one may be.
    failures: int = 0
    not_before: float = 0.0


class PartitionConsumers:
    """The partition subscriptions of one process, balanced over the live processes."""

    def __init__(
        self,
        broker: Broker,
        members: MemberStore,
        node: str,
        *,
        interval: float,
        grace: float = HAND_OVER_GRACE,
        metrics: Metrics | None = None,
    ) -> None:
        self._broker = broker
        self._members = members
        self._node = node
        self._interval = interval
        self._ttl = max(TTL_INTERVALS * interval, MIN_TTL)
        self._grace = grace
        self._metrics = metrics
        self._partitions: list[_Partition] = []
        self._nodes: list[str] = [node]
        self._task: asyncio.Task[None] | None = None
        self._started = False
        self._stopped = False

    @property
    def balancing(self) -> bool:
        """True when other processes may share the partitions (a distributed broker)."""
        return self._broker.distributed

    @property
    def nodes(self) -> list[str]:
        """The live nodes as last read (this one included), sorted."""
        return list(self._nodes)

    def add(self, queue: str, handler: Handler, *, prefetch: int, kind: str) -> None:
        """Consume the partition queue ``queue`` once ``start`` runs. Every process must add
        the same queues in the same order (they are numbered by it); ``kind`` (``in``,
        ``out``) labels the ``switchboard_partitions_active`` gauge."""
        if self._started:
            raise RuntimeError("partitions are added before start()")
        self._partitions.append(_Partition(queue, handler, prefetch, kind))

    def active(self, kind: str | None = None) -> int:
        """Partitions (of ``kind``) whose active consumer this process is, as far as it can
        tell: they delivered messages to it since it last subscribed to them."""
        return sum(
            1
            for p in self._partitions
            if (kind is None or p.kind == kind)
            and p.subscription is not None
            and p.subscription.deliveries > 0
        )

    async def start(self) -> None:
        """Register this process, subscribe (preferred partitions first) and, on a
        distributed broker, start balancing."""
        self._started = True
        if self._metrics is not None:
            for kind in {p.kind for p in self._partitions}:
                gauge = self._metrics.partitions_active.labels(kind)
                gauge.set_function(partial(self.active, kind))
        if not self.balancing:
            for partition in self._partitions:
                partition.subscription = await self._broker.subscribe(
                    partition.queue, partition.handler, prefetch=partition.prefetch
                )
            return
        # Registered first, so that processes starting together see each other; a hand-over
        # to a node whose consumer is not in line yet does not happen (nobody waits).
        try:
            await self._refresh()
        except StoreError:
            log.warning("live nodes unknown (store unavailable): subscribing in order")
        mine = preferred(len(self._partitions), self._nodes, self._node)
        for index in start_order(len(self._partitions), mine):
            await self._subscribe(self._partitions[index], required=True)
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop balancing and deregister (graceful shutdown: the others stop counting on
        this process at once). The subscriptions stay, for the broker's drain or close."""
        if self._stopped or not self._started:
            return
        self._stopped = True
        if self._task is not None:
            # Safe mid-hand-over: a cancelled hand-over resumes its subscription, a
            # cancelled subscribe leaves no consumer behind.
            await cancel_quietly(self._task)
            self._task = None
        if self.balancing:
            try:
                await self._members.leave(self._node)
            except StoreError:
                log.warning("could not deregister node %s", self._node, exc_info=True)

    async def close(self) -> None:
        """``stop``, then cancel the subscriptions (their unfinished deliveries go back to
        the queues, for the next consumer in line)."""
        await self.stop()
        for partition in self._partitions:
            subscription, partition.subscription = partition.subscription, None
            if subscription is not None:
                await subscription.cancel()

    async def check(self) -> None:
        """One balancing pass: re-subscribe what is missing, refresh this process's
        registration and hand over what it should (see the module docstring)."""
        try:
            await self._refresh()
            known = True
        except StoreError:
            log.debug("live nodes unknown (store unavailable): no hand-over", exc_info=True)
            known = False
        for partition in self._partitions:
            if partition.subscription is None:
                await self._subscribe(partition)
        if not known:
            return
        mine = preferred(len(self._partitions), self._nodes, self._node)
        now = asyncio.get_running_loop().time()
        due: list[_Partition] = []
        for index, partition in enumerate(self._partitions):
            subscription = partition.subscription
            if subscription is None:
                continue
            delivered = subscription.deliveries > partition.seen
            partition.seen = subscription.deliveries
            if should_hand_over(
                delivered=delivered,
                preferred=index in mine,
                others=len(self._nodes) > 1,
                due=now >= partition.not_before,
            ):
                due.append(partition)
        results = await asyncio.gather(
            *(self._hand_over(p, now) for p in due), return_exceptions=True
        )
        for partition, result in zip(due, results, strict=True):
            if isinstance(result, Exception):
                log.warning("hand-over of %s failed", partition.queue, exc_info=result)

    async def _run(self) -> None:
        while True:
            missing = any(p.subscription is None for p in self._partitions)
            await asyncio.sleep(
                min(self._interval, RESUBSCRIBE_DELAY) if missing else self._interval
            )
            try:
                await self.check()
            except Exception:  # the next pass tries again; never stop balancing
                log.warning("partition balancing pass failed", exc_info=True)

    async def _refresh(self) -> None:
        nodes = await self._members.refresh(self._node, self._ttl)
        if nodes != self._nodes:
            log.info("node %s: live nodes %s", self._node, ", ".join(nodes))
            self._nodes = nodes
            for partition in self._partitions:
                partition.failures, partition.not_before = 0, 0.0

    async def _hand_over(self, partition: _Partition, now: float) -> None:
        subscription = partition.subscription
        assert subscription is not None
        partition.not_before = now + backoff(self._interval, partition.failures)
        partition.failures += 1
        try:
            if await self._broker.consumer_count(partition.queue) < 2:
                return  # nobody waits in line (the preferred process is not consuming)
        except BrokerError:
            log.debug("cannot count the consumers of %s", partition.queue, exc_info=True)
            return
        if not await subscription.hand_over(self._grace):
            log.info("hand-over of %s called off: handlers still running", partition.queue)
            return
        log.info("node %s handed %s over", self._node, partition.queue)
        partition.subscription = None
        await self._subscribe(partition)

    async def _subscribe(self, partition: _Partition, *, required: bool = False) -> None:
        """Subscribe (again); a failure leaves it for the next pass, unless ``required``."""
        try:
            partition.subscription = await self._broker.subscribe(
                partition.queue, partition.handler, prefetch=partition.prefetch
            )
        except BrokerError:
            if required:
                raise
            log.warning("could not subscribe to %s again; retrying", partition.queue)
            return
        partition.seen = 0
