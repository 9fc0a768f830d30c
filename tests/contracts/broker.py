"""The ``Broker`` contract, run against every implementation.

Subclass ``BrokerContract`` in a ``test_*.py`` module and override the ``make_broker``
fixture to return a factory of (unstarted) brokers. Every test works on fresh, uniquely
named queues that are deleted afterwards. Nothing sleeps: tests wait on events, bounded
by ``asyncio.wait_for``.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING, Any, Protocol

import pytest

from queues.base import (
    Broker,
    BrokerError,
    Envelope,
    Handler,
    QueueSpec,
    Reject,
    Retry,
    Subscription,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

TIMEOUT = 5.0


class AdminBroker(Broker, Protocol):
    """A broker the suite can clean up after."""

    async def delete_queue(self, queue: str) -> None:
        """Delete ``queue`` with its dead letters."""


def envelope(n: int = 0, **fields: Any) -> Envelope:
    """A distinct message; ``fields`` override the defaults."""
    values: dict[str, Any] = {
        "id": f"msg-{n}-{uuid.uuid4().hex[:8]}",
        "type": "test.Ping",
        "body": b'{"n": %d}' % n,
    }
    values.update(fields)
    return Envelope(**values)


class Recorder:
    """Records deliveries; tests wait for a condition on them instead of sleeping."""

    def __init__(
        self,
        block: Callable[[Envelope], bool] = lambda _: False,
        changed: asyncio.Event | None = None,
    ) -> None:
        self.received: list[Envelope] = []
        self.gate = asyncio.Event()  # handlers for which ``block`` is true wait on it
        self._block = block
        # Set on every delivery; recorders may share one to wait on a joint condition.
        self.changed = changed or asyncio.Event()

    async def __call__(self, message: Envelope) -> None:
        self.received.append(message)
        self.changed.set()
        if self._block(message):
            await self.gate.wait()

    @property
    def ids(self) -> list[str]:
        return [message.id for message in self.received]

    async def wait_for(self, count: int) -> list[Envelope]:
        """Wait until at least ``count`` deliveries were recorded."""
        await wait_until(self.changed, lambda: len(self.received) >= count)
        return self.received


async def wait_until(changed: asyncio.Event, predicate: Callable[[], bool]) -> None:
    """Wait (bounded) until ``predicate`` holds, re-checking whenever ``changed`` is set."""

    async def until() -> None:
        while not predicate():
            changed.clear()
            await changed.wait()

    await asyncio.wait_for(until(), TIMEOUT)


def scripted(recorder: Recorder, script: Callable[[Envelope], Exception | None]) -> Handler:
    """A handler that records the delivery, then raises what ``script`` returns (if any)."""

    async def handle(message: Envelope) -> None:
        await recorder(message)
        error = script(message)
        if error is not None:
            raise error

    return handle


MARKER = "test.Marker"


def failing(
    error: Callable[[Envelope], Exception | None],
) -> Callable[[Envelope], Exception | None]:
    """A ``scripted`` script that lets ``MARKER`` messages through."""
    return lambda m: None if m.type == MARKER else error(m)


async def pass_marker(harness: Harness, queue: str, recorder: Recorder) -> None:
    """Publish a marker and wait for its delivery.

    With ``prefetch=1`` the marker is delivered only once every earlier delivery is
    settled (for a dead letter: published to the dead-letter queue, then acked).
    """
    marker = envelope(type=MARKER)
    await harness.publish(queue, marker)
    await wait_until(recorder.changed, lambda: marker.id in recorder.ids)


class Harness:
    """A started broker plus the queues and subscriptions a test created."""

    def __init__(self, broker: AdminBroker) -> None:
        self.broker = broker
        self._queues: list[str] = []
        self._subscriptions: list[Subscription] = []

    async def queue(self, **options: Any) -> str:
        """Declare a fresh uniquely named queue."""
        name = f"sbtest.{uuid.uuid4().hex}"
        self._queues.append(name)
        await self.broker.declare(QueueSpec(name=name, **options))
        return name

    async def subscribe(self, queue: str, handler: Handler, prefetch: int = 32) -> Subscription:
        """Subscribe; the subscription is cancelled at teardown."""
        subscription = await self.broker.subscribe(queue, handler, prefetch=prefetch)
        self._subscriptions.append(subscription)
        return subscription

    async def publish(self, queue: str, *messages: Envelope) -> None:
        """Publish messages one after the other."""
        for message in messages:
            await self.broker.publish(queue, message)

    async def aclose(self) -> None:
        """Cancel subscriptions, delete queues, close the broker."""
        try:
            for subscription in self._subscriptions:
                await subscription.cancel()
            for name in self._queues:
                await self.broker.delete_queue(name)
        finally:
            await self.broker.close()


class BrokerFixtures:
    """``make_broker`` (to override) and the ``harness`` built on it."""

    @pytest.fixture
    def make_broker(self) -> Callable[[], AdminBroker]:
        """Override: return a factory of unstarted brokers."""
        raise NotImplementedError

    @pytest.fixture
    async def harness(self, make_broker: Callable[[], AdminBroker]) -> AsyncIterator[Harness]:
        broker = make_broker()
        await broker.start()
        harness = Harness(broker)
        yield harness
        await harness.aclose()


class BrokerContract(BrokerFixtures):
    """Behaviour every ``Broker`` must have (see ``queues/base.py``)."""

    async def test_roundtrip_keeps_every_field(self, harness: Harness) -> None:
        queue = await harness.queue()
        full = envelope(
            1, correlation_id="conv-42", attempt=2, priority=7, body=b'{"t": "\xc3\xa9"}'
        )
        reason = envelope(2, dead_letter_reason="kept as-is")
        minimal = envelope(3)
        await harness.publish(queue, full, reason, minimal)
        recorder = Recorder()
        await harness.subscribe(queue, recorder)
        assert await recorder.wait_for(3) == [full, reason, minimal]

    async def test_exclusive_queue_roundtrip(self, harness: Harness) -> None:
        queue = await harness.queue(durable=False, exclusive=True)
        recorder = Recorder()
        await harness.subscribe(queue, recorder)
        message = envelope()
        await harness.publish(queue, message)
        assert await recorder.wait_for(1) == [message]

    async def test_competing_consumers_get_distinct_messages(self, harness: Harness) -> None:
        queue = await harness.queue()
        changed = asyncio.Event()
        first = Recorder(block=lambda _: True, changed=changed)
        second = Recorder(block=lambda _: True, changed=changed)
        await harness.subscribe(queue, first, prefetch=1)
        await harness.subscribe(queue, second, prefetch=1)
        messages = [envelope(n) for n in range(10)]
        await harness.publish(queue, *messages)
        await first.wait_for(1)
        await second.wait_for(1)
        first.gate.set()
        second.gate.set()
        await wait_until(changed, lambda: len(first.received) + len(second.received) >= 10)
        assert sorted(first.ids + second.ids) == sorted(m.id for m in messages)
        assert not set(first.ids) & set(second.ids)

    async def test_prefetch_limits_unfinished_deliveries(self, harness: Harness) -> None:
        queue = await harness.queue()
        changed = asyncio.Event()
        small = Recorder(block=lambda _: True, changed=changed)
        large = Recorder(block=lambda _: True, changed=changed)
        await harness.subscribe(queue, small, prefetch=2)
        await harness.subscribe(queue, large, prefetch=10)
        await harness.publish(queue, *(envelope(n) for n in range(6)))
        await wait_until(changed, lambda: len(small.received) + len(large.received) >= 6)
        assert (len(small.received), len(large.received)) == (2, 4)

    async def test_higher_priority_first_then_fifo(self, harness: Harness) -> None:
        queue = await harness.queue(max_priority=9)
        low = [envelope(n, priority=1) for n in range(2)]
        high = [envelope(n, priority=5) for n in range(2, 4)]
        mid = envelope(4, priority=3)
        await harness.publish(queue, low[0], high[0], low[1], mid, high[1])
        recorder = Recorder()
        await harness.subscribe(queue, recorder, prefetch=1)
        await recorder.wait_for(5)
        assert recorder.ids == [m.id for m in [high[0], high[1], mid, low[0], low[1]]]

    async def test_single_active_consumer_hands_over_on_cancel(self, harness: Harness) -> None:
        queue = await harness.queue(single_active_consumer=True)
        messages = [envelope(n) for n in range(4)]
        active = Recorder(block=lambda m: m.id in {messages[2].id, messages[3].id})
        standby = Recorder()
        active_sub = await harness.subscribe(queue, active)
        await harness.subscribe(queue, standby)
        await harness.publish(queue, *messages)
        await active.wait_for(4)
        assert standby.received == []
        await active_sub.cancel()
        assert [m.id for m in await standby.wait_for(2)] == [messages[2].id, messages[3].id]
        later = envelope(5)
        await harness.publish(queue, later)
        await standby.wait_for(3)
        assert standby.ids[2] == later.id
        assert len(active.received) == 4

    async def test_cancel_mid_processing_redelivers_in_order(self, harness: Harness) -> None:
        queue = await harness.queue()
        killed = Recorder(block=lambda _: True)
        subscription = await harness.subscribe(queue, killed, prefetch=3)
        messages = [envelope(n) for n in range(5)]
        await harness.publish(queue, *messages)
        await killed.wait_for(3)
        await subscription.cancel()  # 3 unfinished go back *before* the 2 still queued
        survivor = Recorder()
        await harness.subscribe(queue, survivor)
        redelivered = await survivor.wait_for(5)
        assert [m.id for m in redelivered] == [m.id for m in messages]
        assert {m.attempt for m in redelivered} == {1}

    async def test_cancel_right_after_handlers_returned_redelivers_nothing(
        self, harness: Harness
    ) -> None:
        """Handlers that returned are settled: cancelling at once (their acks maybe still on
        their way) must not send their messages round again."""
        queue = await harness.queue()
        count = 5
        recorder = Recorder(block=lambda _: True)
        returned: list[Envelope] = []
        all_returned = asyncio.get_running_loop().create_future()

        async def handle(message: Envelope) -> None:
            await recorder(message)
            returned.append(message)
            if len(returned) == count:
                all_returned.set_result(None)

        subscription = await harness.subscribe(queue, handle)
        await harness.publish(queue, *(envelope(n) for n in range(count)))
        await recorder.wait_for(count)
        recorder.gate.set()  # the handlers all return in the same pass of the loop
        # Awaited directly (no wait_for task in between): resumes in the next pass.
        async with asyncio.timeout(TIMEOUT):
            await all_returned
        await subscription.cancel()
        later = Recorder()
        await harness.subscribe(queue, later)
        await pass_marker(harness, queue, later)
        assert [m.type for m in later.received] == [MARKER]

    async def test_retry_with_delay_redelivers_with_next_attempt(self, harness: Harness) -> None:
        queue = await harness.queue()
        recorder = Recorder()
        handler = scripted(recorder, lambda m: Retry(0.05) if m.attempt == 1 else None)
        await harness.subscribe(queue, handler)
        message = envelope(correlation_id="c-1", priority=2)
        await harness.publish(queue, message)
        first, second = await recorder.wait_for(2)
        assert (first.attempt, second.attempt) == (1, 2)
        assert second == message.model_copy(update={"attempt": 2})
        assert await harness.broker.dead_letters(queue) == []

    async def test_exhausting_max_attempts_dead_letters(self, harness: Harness) -> None:
        queue = await harness.queue(max_attempts=3)
        recorder = Recorder()
        handler = scripted(recorder, failing(lambda _: Retry(0, "still busy")))
        await harness.subscribe(queue, handler, prefetch=1)
        message = envelope()
        await harness.publish(queue, message)
        await recorder.wait_for(3)
        await pass_marker(harness, queue, recorder)
        assert [m.attempt for m in recorder.received[:3]] == [1, 2, 3]
        dead = await harness.broker.dead_letters(queue)
        assert len(dead) == 1
        assert dead[0].id == message.id
        assert dead[0].attempt == 3
        assert "still busy" in (dead[0].dead_letter_reason or "")

    async def test_reject_dead_letters_with_reason(self, harness: Harness) -> None:
        queue = await harness.queue()
        recorder = Recorder()
        handler = scripted(recorder, failing(lambda _: Reject("unknown tenant")))
        await harness.subscribe(queue, handler, prefetch=1)
        message = envelope(correlation_id="c-9", priority=4)
        await harness.publish(queue, message)
        await pass_marker(harness, queue, recorder)
        dead = await harness.broker.dead_letters(queue)
        assert dead == [message.model_copy(update={"dead_letter_reason": "unknown tenant"})]
        assert recorder.ids[0] == message.id
        # Peeking leaves the dead letters in place.
        assert await harness.broker.dead_letters(queue) == dead

    async def test_generic_exception_is_retried(self, harness: Harness) -> None:
        queue = await harness.queue(max_attempts=3)
        recorder = Recorder()
        flaky = scripted(recorder, lambda m: RuntimeError("flaky") if m.attempt < 3 else None)
        await harness.subscribe(queue, flaky)
        await harness.publish(queue, envelope())
        assert [m.attempt for m in await recorder.wait_for(3)] == [1, 2, 3]
        assert await harness.broker.dead_letters(queue) == []

    async def test_generic_exception_dead_letters_after_max_attempts(
        self, harness: Harness
    ) -> None:
        queue = await harness.queue(max_attempts=2)
        recorder = Recorder()
        handler = scripted(recorder, failing(lambda _: ValueError("boom")))
        await harness.subscribe(queue, handler, prefetch=1)
        message = envelope()
        await harness.publish(queue, message)
        await recorder.wait_for(2)
        await pass_marker(harness, queue, recorder)
        assert [m.attempt for m in recorder.received[:2]] == [1, 2]
        dead = await harness.broker.dead_letters(queue)
        assert [m.id for m in dead] == [message.id]
        assert "boom" in (dead[0].dead_letter_reason or "")

    async def test_publish_to_undeclared_queue_raises(self, harness: Harness) -> None:
        with pytest.raises(BrokerError):
            await harness.broker.publish(f"sbtest.missing.{uuid.uuid4().hex}", envelope())
        # The broker is still usable afterwards.
        queue = await harness.queue()
        recorder = Recorder()
        await harness.subscribe(queue, recorder)
        await harness.publish(queue, envelope())
        await recorder.wait_for(1)

    async def test_notify_delivers_in_order(self, harness: Harness) -> None:
        queue = await harness.queue(durable=False, exclusive=True)
        recorder = Recorder()
        await harness.subscribe(queue, recorder)
        sent = [envelope(n, correlation_id=f"c{n}") for n in range(3)]
        for message in sent:
            await harness.broker.notify(queue, message)
        assert await recorder.wait_for(3) == sent

    async def test_notify_to_missing_queue_is_dropped(self, harness: Harness) -> None:
        await harness.broker.notify(f"sbtest.missing.{uuid.uuid4().hex}", envelope())
        # Nothing was raised, and both ways of publishing still work afterwards.
        queue = await harness.queue()
        recorder = Recorder()
        await harness.subscribe(queue, recorder)
        first, second = envelope(1), envelope(2)
        await harness.broker.notify(queue, first)
        await harness.publish(queue, second)
        assert await recorder.wait_for(2) == [first, second]

    async def test_notify_after_close_raises(self, make_broker: Callable[[], AdminBroker]) -> None:
        broker = make_broker()
        await broker.start()
        await broker.close()
        with pytest.raises(BrokerError):
            await broker.notify("anything", envelope())

    async def test_publish_after_close_raises(self, make_broker: Callable[[], AdminBroker]) -> None:
        broker = make_broker()
        await broker.start()
        await broker.close()
        with pytest.raises(BrokerError):
            await broker.publish("anything", envelope())
        assert await broker.ping() is False

    async def test_ping(self, harness: Harness) -> None:
        assert await harness.broker.ping() is True

    async def test_declare_is_idempotent(self, harness: Harness) -> None:
        options: dict[str, Any] = {"max_priority": 5, "single_active_consumer": True}
        queue = await harness.queue(**options)
        await harness.broker.declare(QueueSpec(name=queue, **options))
        await harness.broker.declare(QueueSpec(name=queue, **options))
        recorder = Recorder()
        await harness.subscribe(queue, recorder)
        await harness.publish(queue, envelope())
        await recorder.wait_for(1)
        assert await harness.broker.dead_letters(queue) == []
