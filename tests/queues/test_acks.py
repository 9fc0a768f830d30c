"""Batched acknowledgements (``queues.acks``) against a channel that applies RabbitMQ's rules:
a delivery is acked or nacked once; ``multiple=True`` settles every outstanding delivery up to
the tag, which must itself be outstanding (else "unknown delivery tag" closes the channel)."""

from __future__ import annotations

import asyncio
import random

import pytest

from queues.acks import ChannelAcks


class UnknownDeliveryTag(Exception):
    """What RabbitMQ answers (by closing the channel) to an ack or nack of a settled tag."""


class RabbitChannel:
    """Applies acks and nacks in the order they are written, as RabbitMQ does."""

    def __init__(self) -> None:
        self.outstanding: set[int] = set()
        self.acked: list[int] = []
        self.requeued: list[int] = []
        self.frames: list[tuple[str, int, bool]] = []
        self.next_tag = 1
        # When set, a nack / an ack is written only once it opens (the write queue is full).
        self.nack_gate: asyncio.Event | None = None
        self.ack_gate: asyncio.Event | None = None
        self.ack_waiting = asyncio.Event()

    def deliver(self, acks: ChannelAcks) -> int:
        tag, self.next_tag = self.next_tag, self.next_tag + 1
        self.outstanding.add(tag)
        acks.delivered(tag)
        return tag

    def _settle(self, tag: int, multiple: bool) -> list[int]:
        if tag not in self.outstanding:
            raise UnknownDeliveryTag(tag)
        settled = sorted(t for t in self.outstanding if t <= tag) if multiple else [tag]
        self.outstanding.difference_update(settled)
        return settled

    async def basic_ack(self, delivery_tag: int, multiple: bool = False, wait: bool = True) -> None:
        if self.ack_gate is not None:
            self.ack_waiting.set()
            await self.ack_gate.wait()
        self.frames.append(("ack", delivery_tag, multiple))
        self.acked += self._settle(delivery_tag, multiple)

    async def basic_nack(
        self, delivery_tag: int, multiple: bool = False, requeue: bool = True, wait: bool = True
    ) -> None:
        if self.nack_gate is not None:
            await self.nack_gate.wait()
        self.frames.append(("nack", delivery_tag, multiple))
        assert requeue
        self.requeued += self._settle(delivery_tag, multiple)


@pytest.fixture
def channel() -> RabbitChannel:
    return RabbitChannel()


async def test_acks_of_one_pass_go_out_as_one_multiple_ack(channel: RabbitChannel) -> None:
    acks = ChannelAcks(channel)
    tags = [channel.deliver(acks) for _ in range(10)]
    await asyncio.gather(*(acks.ack(tag) for tag in reversed(tags)))
    assert channel.frames == [("ack", 10, True)]
    assert sorted(channel.acked) == tags


async def test_a_delivery_in_work_is_not_covered(channel: RabbitChannel) -> None:
    acks = ChannelAcks(channel)
    tags = [channel.deliver(acks) for _ in range(5)]
    await asyncio.gather(*(acks.ack(tag) for tag in tags if tag != 3))
    assert channel.frames == [("ack", 2, True), ("ack", 4, False), ("ack", 5, False)]
    assert channel.outstanding == {3}

    await acks.ack(3)
    assert channel.frames[-1] == ("ack", 3, True)
    assert sorted(channel.acked) == tags


async def test_a_nack_is_never_swallowed_by_a_multiple_ack(channel: RabbitChannel) -> None:
    acks = ChannelAcks(channel)
    first, failed, last = (channel.deliver(acks) for _ in range(3))
    await asyncio.gather(acks.ack(first), acks.nack(failed), acks.ack(last))
    assert channel.frames[0] == ("nack", failed, False)
    assert channel.requeued == [failed]
    assert sorted(channel.acked) == [first, last]


async def test_acks_do_not_overtake_a_nack_still_waiting_to_be_written(
    channel: RabbitChannel,
) -> None:
    acks = ChannelAcks(channel)
    first, failed, last = (channel.deliver(acks) for _ in range(3))
    channel.nack_gate = asyncio.Event()
    nacking = asyncio.create_task(acks.nack(failed))
    await asyncio.gather(acks.ack(first), acks.ack(last))
    assert channel.frames == [("ack", first, True), ("ack", last, False)]

    channel.nack_gate.set()
    await nacking
    assert channel.requeued == [failed]
    assert sorted(channel.acked) == [first, last]


async def test_acks_arriving_while_a_batch_is_written_go_out_next(
    channel: RabbitChannel,
) -> None:
    acks = ChannelAcks(channel)
    first, second = channel.deliver(acks), channel.deliver(acks)
    channel.ack_gate = asyncio.Event()
    flushing = asyncio.create_task(acks.ack(first))
    await channel.ack_waiting.wait()  # the write queue is full under the first batch
    await acks.ack(second)  # left to the batch being written: returns at once
    channel.ack_gate.set()
    await flushing
    assert channel.frames == [("ack", first, True), ("ack", second, True)]
    assert channel.acked == [first, second]


async def test_an_ack_on_a_gone_channel_raises(channel: RabbitChannel) -> None:
    acks = ChannelAcks(channel)
    tag = channel.deliver(acks)
    channel.outstanding.clear()  # the channel closed: RabbitMQ requeued the delivery
    with pytest.raises(UnknownDeliveryTag):
        await acks.ack(tag)


@pytest.mark.parametrize("seed", range(20))
async def test_random_out_of_order_settling_settles_each_delivery_once(
    channel: RabbitChannel, seed: int
) -> None:
    """Handlers of a prefetch window finish in random order over random loop passes, some
    failing (nack); deliveries keep coming as the window frees up."""
    rng = random.Random(seed)
    acks = ChannelAcks(channel)
    window, total = 16, 300
    decided: dict[int, bool] = {}

    async def handle(tag: int) -> None:
        for _ in range(rng.randrange(4)):
            await asyncio.sleep(0)
        decided[tag] = rng.random() < 0.9
        await (acks.ack(tag) if decided[tag] else acks.nack(tag))

    running: set[asyncio.Task[None]] = set()
    while channel.next_tag <= total or running:
        while channel.next_tag <= total and len(channel.outstanding) < window:
            running.add(asyncio.create_task(handle(channel.deliver(acks))))
        done, running = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # an unknown delivery tag would surface here

    assert not channel.outstanding
    assert sorted(channel.acked) == sorted(t for t, ok in decided.items() if ok)
    assert sorted(channel.requeued) == sorted(t for t, ok in decided.items() if not ok)
    assert len(channel.frames) < total  # batched
