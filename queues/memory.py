"""In-process broker for the embedded (single-process) mode.

A real implementation of the ``Broker`` contract, not a test double: priorities,
competing or single-active consumers, prefetch, delayed retry and dead letters all
behave as they do on RabbitMQ, minus durability across restarts.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from queues.base import (
    BrokerError,
    Envelope,
    Handler,
    Outcome,
    QueueSpec,
    Reject,
    Retry,
    decide_outcome,
)

if TYPE_CHECKING:
    from collections.abc import Coroutine

log = logging.getLogger(__name__)

# Heap key: (-effective priority, sequence). A redelivered message keeps its key, so it
# goes back to the front of the queue, in its original order.
_Key = tuple[int, int]
# Messages one queue may hold waiting, and dead letters kept per queue.
MAX_READY = 100_000
MAX_DEAD = 10_000
# Spec fields that define a queue on the broker; ``max_attempts`` is consumer-side only.
_SHAPE = ("durable", "max_priority", "single_active_consumer", "exclusive")


@dataclass
class _Delivery:
    key: _Key
    envelope: Envelope
    task: asyncio.Task[None] | None = None


@dataclass
class _Queue:
    spec: QueueSpec
    ready: list[tuple[_Key, Envelope]] = field(default_factory=list)
    dead: list[Envelope] = field(default_factory=list)
    subs: list[_MemorySubscription] = field(default_factory=list)
    next_sub: int = 0

    def push(self, key: _Key, envelope: Envelope) -> None:
        heapq.heappush(self.ready, (key, envelope))

    def pick_subscription(self) -> _MemorySubscription | None:
        """The subscription that gets the next message, or None if nobody can take it."""
        if self.spec.single_active_consumer:
            active = self.subs[0] if self.subs else None
            return active if active is not None and active.has_capacity() else None
        count = len(self.subs)
        for offset in range(count):
            index = (self.next_sub + offset) % count
            if self.subs[index].has_capacity():
                self.next_sub = index + 1
                return self.subs[index]
        return None


class _MemorySubscription:
    """One consumer of an in-memory queue."""

    def __init__(
        self, broker: InMemoryBroker, queue: _Queue, handler: Handler, prefetch: int
    ) -> None:
        self._broker = broker
        self._queue = queue
        self._handler = handler
        self._prefetch = prefetch
        # Unfinished deliveries in delivery order (dicts keep insertion order).
        self._unfinished: dict[int, _Delivery] = {}
        self._ids = itertools.count()
        # Handing over: no new deliveries until the hand-over completes or is called off.
        self._holding = False
        self.deliveries = 0

    def has_capacity(self) -> bool:
        return not self._holding and len(self._unfinished) < self._prefetch

    def deliver(self, key: _Key, envelope: Envelope) -> None:
        """Start the handler for one message as a task."""
        self.deliveries += 1
        delivery_id = next(self._ids)
        delivery = _Delivery(key, envelope)
        self._unfinished[delivery_id] = delivery
        delivery.task = self._broker._spawn(self._run(delivery_id, delivery))

    async def _run(self, delivery_id: int, delivery: _Delivery) -> None:
        error: Exception | None = None
        try:
            await self._handler(delivery.envelope)
        except Exception as exc:  # any handler failure is an outcome, not a crash
            error = exc
            if not isinstance(exc, Retry | Reject):
                log.warning("handler failed on %s", self._queue.spec.name, exc_info=exc)
        if self._unfinished.pop(delivery_id, None) is None:
            return  # the subscription was cancelled meanwhile; the message went back
        self._broker._settle(self._queue, delivery.envelope, error)

    async def hand_over(self, grace: float) -> bool:
        """Take no new deliveries, wait up to ``grace`` seconds for the started handlers;
        then stop consuming (the next subscription in line takes over), or, if one is still
        running, carry on and answer False."""
        if self._holding or self not in self._queue.subs:
            return False
        self._holding = True
        try:
            current = asyncio.current_task()
            tasks = [
                d.task
                for d in self._unfinished.values()
                if d.task is not None and d.task is not current
            ]
            if tasks and grace > 0:
                await asyncio.wait(tasks, timeout=grace)
        except BaseException:
            self._resume()
            raise
        if self._unfinished:
            self._resume()
            return False
        await self.cancel()
        return True

    def _resume(self) -> None:
        self._holding = False
        self._broker._dispatch(self._queue)

    async def cancel(self) -> None:
        """Stop consuming; unfinished deliveries go back to the front of the queue."""
        if self in self._queue.subs:
            self._queue.subs.remove(self)
        unfinished = list(self._unfinished.values())
        self._unfinished.clear()
        for delivery in unfinished:
            self._queue.push(delivery.key, delivery.envelope)
        tasks = [d.task for d in unfinished if d.task is not None]
        for task in tasks:
            task.cancel()
        self._broker._dispatch(self._queue)
        current = asyncio.current_task()
        await asyncio.gather(*(t for t in tasks if t is not current), return_exceptions=True)


class InMemoryBroker:
    """The ``Broker`` contract implemented inside the process (embedded mode)."""

    def __init__(
        self, *, backoff_base: float = 0.05, backoff_cap: float = 30.0,
        max_ready: int = MAX_READY, max_dead: int = MAX_DEAD,
    ) -> None:  # fmt: skip
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        # Bounded memory: a full queue refuses new messages (publishers answer 503 and
        # their senders retry); past ``max_dead`` the oldest dead letters are dropped.
        self._max_ready = max_ready
        self._max_dead = max_dead
        self._queues: dict[str, _Queue] = {}
        self._seq = itertools.count()
        self._tasks: set[asyncio.Task[None]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._idle_waiters: list[asyncio.Future[None]] = []
        self._started = False
        self._closed = False
        # Never called: there is no connection to lose.
        self.on_reconnect: list[Callable[[], Awaitable[None]]] = []
        # Only this process consumes: there is nobody to hand a queue over to.
        self.distributed = False

    async def start(self) -> None:
        """Nothing to connect to; marks the broker usable."""
        self._check_open()
        self._started = True

    async def declare(self, spec: QueueSpec) -> None:
        """Create the queue; re-declaring the same shape is a no-op.

        Raises ``BrokerError`` if a queue of that name exists with a different shape
        (durability, priority, single-active-consumer, exclusivity), like RabbitMQ does.
        A different ``max_attempts`` replaces the previous one.
        """
        self._check_usable()
        queue = self._queues.get(spec.name)
        if queue is None:
            self._queues[spec.name] = _Queue(spec)
            return
        for name in _SHAPE:
            if getattr(queue.spec, name) != getattr(spec, name):
                raise BrokerError(f"queue {spec.name!r} already declared with another {name}")
        queue.spec = spec

    async def publish(self, queue: str, envelope: Envelope) -> None:
        """Append a message to a declared queue (by priority, then FIFO).

        Raises ``BrokerError`` when ``max_ready`` messages are already waiting in it."""
        self._check_usable()
        target = self._queue(queue)
        if len(target.ready) >= self._max_ready:
            raise BrokerError(f"queue {queue} is full ({self._max_ready} messages waiting)")
        self._enqueue(target, envelope)

    async def notify(self, queue: str, envelope: Envelope) -> None:
        """Best effort: like ``publish``, but a message for a queue that does not exist or
        is full is dropped."""
        self._check_usable()
        target = self._queues.get(queue)
        if target is not None and len(target.ready) < self._max_ready:
            self._enqueue(target, envelope)

    async def subscribe(
        self, queue: str, handler: Handler, *, prefetch: int = 32
    ) -> _MemorySubscription:
        """Consume a declared queue with up to ``prefetch`` handlers running at once."""
        self._check_usable()
        if prefetch < 1:
            raise ValueError("prefetch must be at least 1")
        target = self._queue(queue)
        subscription = _MemorySubscription(self, target, handler, prefetch)
        target.subs.append(subscription)
        self._dispatch(target)
        return subscription

    async def dead_letters(self, queue: str) -> list[Envelope]:
        """The dead-lettered messages of ``queue``, oldest first."""
        self._check_usable()
        return list(self._queue(queue).dead)

    async def consumer_count(self, queue: str) -> int:
        """Subscriptions of ``queue`` (waiting single-active ones included)."""
        self._check_usable()
        return len(self._queue(queue).subs)

    async def delete_queue(self, queue: str) -> None:
        """Drop a queue, its messages and dead letters; its subscriptions stop."""
        target = self._queues.pop(queue, None)
        if target is not None:
            for subscription in list(target.subs):
                await subscription.cancel()
            target.ready.clear()
        self._notify_if_idle()

    async def ping(self) -> bool:
        """True while the broker is open."""
        return self._started and not self._closed

    async def drain(self, grace: float) -> None:
        """Nothing to hand back: in-memory work ends with the process."""

    async def close(self) -> None:
        """Cancel every subscription and pending retry; further use raises ``BrokerError``."""
        if self._closed:
            return
        self._closed = True
        for queue in self._queues.values():
            for subscription in list(queue.subs):
                await subscription.cancel()
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._notify_if_idle()

    async def join(self) -> None:
        """Return once all queues are empty, no handler runs and no retry is pending."""
        if self._is_idle():
            return
        waiter = asyncio.get_running_loop().create_future()
        self._idle_waiters.append(waiter)
        await waiter

    # -- internals ---------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise BrokerError("broker is closed")

    def _check_usable(self) -> None:
        self._check_open()
        if not self._started:
            raise BrokerError("broker not started")

    def _queue(self, name: str) -> _Queue:
        queue = self._queues.get(name)
        if queue is None:
            raise BrokerError(f"queue {name!r} is not declared")
        return queue

    def _enqueue(self, queue: _Queue, envelope: Envelope) -> None:
        max_priority = queue.spec.max_priority
        priority = min(envelope.priority, max_priority) if max_priority else 0
        queue.push((-priority, next(self._seq)), envelope)
        self._dispatch(queue)

    def _dispatch(self, queue: _Queue) -> None:
        while queue.ready and not self._closed:
            subscription = queue.pick_subscription()
            if subscription is None:
                break
            key, envelope = heapq.heappop(queue.ready)
            subscription.deliver(key, envelope)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("in-memory delivery task failed", exc_info=task.exception())
        self._notify_if_idle()

    def _settle(self, queue: _Queue, envelope: Envelope, error: Exception | None) -> None:
        outcome = decide_outcome(
            error,
            envelope,
            queue.spec,
            backoff_base=self._backoff_base,
            backoff_cap=self._backoff_cap,
        )
        if error is not None and outcome.action != "ack":
            log.info("message %s on %s: %s", envelope.id, queue.spec.name, outcome.reason)
        self._apply(queue, envelope, outcome)
        self._dispatch(queue)

    def _apply(self, queue: _Queue, envelope: Envelope, outcome: Outcome) -> None:
        if outcome.action == "dead_letter":
            update = {"dead_letter_reason": outcome.reason}
            queue.dead.append(envelope.model_copy(update=update))
            if len(queue.dead) > self._max_dead:
                log.warning("dead letters of %s over %d: oldest dropped", queue.spec.name,
                            self._max_dead)  # fmt: skip
                del queue.dead[0]
        elif outcome.action == "retry":
            again = envelope.model_copy(update={"attempt": envelope.attempt + 1})
            if outcome.delay <= 0:
                self._enqueue(queue, again)
            else:
                self._schedule(queue, again, outcome.delay)

    def _schedule(self, queue: _Queue, envelope: Envelope, delay: float) -> None:
        def fire() -> None:
            self._timers.discard(timer)
            if not self._closed and self._queues.get(queue.spec.name) is queue:
                self._enqueue(queue, envelope)
            self._notify_if_idle()

        timer = asyncio.get_running_loop().call_later(delay, fire)
        self._timers.add(timer)

    def _is_idle(self) -> bool:
        if self._closed:
            return True
        busy = self._tasks or self._timers
        return not busy and not any(queue.ready for queue in self._queues.values())

    def _notify_if_idle(self) -> None:
        if not self._is_idle():
            return
        waiters, self._idle_waiters = self._idle_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


__all__ = ["InMemoryBroker"]
