"""The hand-over part of the ``Broker`` contract (``Subscription.hand_over``,
``Subscription.deliveries``, ``Broker.consumer_count``), run against every implementation.

Subclass ``HandOverContract`` and override ``make_broker`` as for ``BrokerContract``.
"""

from __future__ import annotations

import asyncio

from tests.contracts.broker import TIMEOUT, BrokerFixtures, Harness, Recorder, envelope

# A hand-over that must be called off waits this long for a handler that never finishes.
SHORT_GRACE = 0.05


class HandOverContract(BrokerFixtures):
    async def test_consumer_count_includes_waiting_single_active_consumers(
        self, harness: Harness
    ) -> None:
        queue = await harness.queue(single_active_consumer=True)
        assert await harness.broker.consumer_count(queue) == 0
        first = await harness.subscribe(queue, Recorder())
        await harness.subscribe(queue, Recorder())
        assert await harness.broker.consumer_count(queue) == 2
        await first.cancel()
        assert await harness.broker.consumer_count(queue) == 1

    async def test_only_the_active_consumer_counts_deliveries(self, harness: Harness) -> None:
        queue = await harness.queue(single_active_consumer=True)
        active, standby = Recorder(), Recorder()
        active_sub = await harness.subscribe(queue, active)
        standby_sub = await harness.subscribe(queue, standby)
        await harness.publish(queue, *(envelope(n) for n in range(3)))
        await active.wait_for(3)
        assert (active_sub.deliveries, standby_sub.deliveries) == (3, 0)

    async def test_idle_hand_over_makes_the_next_consumer_active(self, harness: Harness) -> None:
        queue = await harness.queue(single_active_consumer=True)
        first, second = Recorder(), Recorder()
        first_sub = await harness.subscribe(queue, first)
        await harness.subscribe(queue, second)
        before = envelope(0)
        await harness.publish(queue, before)
        await first.wait_for(1)

        assert await first_sub.hand_over(TIMEOUT)

        after = envelope(1)
        await harness.publish(queue, after)
        assert (await second.wait_for(1))[0].id == after.id
        assert first.ids == [before.id]
        assert await harness.broker.consumer_count(queue) == 1

    async def test_hand_over_waits_for_started_work_and_keeps_order(self, harness: Harness) -> None:
        queue = await harness.queue(single_active_consumer=True)
        messages = [envelope(n) for n in range(5)]
        first = Recorder(block=lambda m: m.id == messages[0].id)
        second = Recorder()
        first_sub = await harness.subscribe(queue, first, prefetch=1)
        await harness.subscribe(queue, second)
        await harness.publish(queue, *messages)
        await first.wait_for(1)  # messages[0] started and blocked; the rest wait

        handing = asyncio.create_task(first_sub.hand_over(TIMEOUT))
        first.gate.set()
        assert await asyncio.wait_for(handing, TIMEOUT)

        assert [m.id for m in await second.wait_for(4)] == [m.id for m in messages[1:]]
        assert first.ids == [messages[0].id], "nothing started twice, nothing skipped"

    async def test_hand_over_is_called_off_while_a_handler_runs(self, harness: Harness) -> None:
        queue = await harness.queue(single_active_consumer=True)
        messages = [envelope(n) for n in range(3)]
        first = Recorder(block=lambda _: True)
        second = Recorder()
        first_sub = await harness.subscribe(queue, first, prefetch=2)
        await harness.subscribe(queue, second)
        await harness.publish(queue, messages[0])
        await first.wait_for(1)

        handing = asyncio.create_task(first_sub.hand_over(SHORT_GRACE))
        await harness.publish(queue, *messages[1:])  # arrive (or wait) while it is held
        assert not await asyncio.wait_for(handing, TIMEOUT)

        first.gate.set()
        assert [m.id for m in await first.wait_for(3)] == [m.id for m in messages]
        assert second.received == []
        assert await harness.broker.consumer_count(queue) == 2
