"""Batched acknowledgements for the deliveries of one AMQP channel.

Handlers finish out of order, so one ``basic.ack`` with ``multiple=True`` may only cover
deliveries that are all settled. RabbitMQ numbers a channel's deliveries 1, 2, 3, ... and a
multiple ack of tag ``T`` acknowledges every delivery up to ``T`` that is still unacknowledged;
``T`` itself must be one of them (else the broker closes the channel: "unknown delivery tag").

So the acks that come in within a couple of loop passes are sent together: one multiple ack
for those below the oldest delivery still in work, single acks for the rest. A nack is sent
at once, and its delivery counts as in work until the nack is queued for the socket, so no
multiple ack can overtake it and swallow it.
"""

from __future__ import annotations

import asyncio
import bisect
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Awaitable

# Loop passes the first ack of a batch waits for others. The handlers started from one read
# of the socket finish in the same pass, those of the next read in the next one: two passes
# join about two reads' worth (and RabbitMQ, acked in bigger steps, sends bigger bursts).
# Measured: 1 pass ~3 acks a frame, 2 passes ~7, 3 passes ~10 for little more.
FLUSH_PASSES = 2


class Acknowledging(Protocol):
    """What is needed of the channel (``aiormq`` channels have it)."""

    def basic_ack(
        self, delivery_tag: int, multiple: bool = False, wait: bool = True
    ) -> Awaitable[None]: ...

    def basic_nack(
        self, delivery_tag: int, multiple: bool = False, requeue: bool = True, wait: bool = True
    ) -> Awaitable[None]: ...


class ChannelAcks:
    """Acknowledgements of the deliveries on one channel (a reopened channel needs a new one:
    delivery tags start over)."""

    __slots__ = ("_flushing", "_unsent", "_unsettled", "channel")

    def __init__(self, channel: Acknowledging) -> None:
        self.channel = channel
        # Delivered, neither acked nor nacked yet. Tags only grow, so insertion order is tag
        # order and the first key is the oldest delivery in work.
        self._unsettled: dict[int, None] = {}
        # Settled positively, not yet sent.
        self._unsent: list[int] = []
        self._flushing = False

    def delivered(self, tag: int) -> None:
        """Record a delivery (before any later one is settled: deliveries come in order)."""
        self._unsettled[tag] = None

    async def ack(self, tag: int) -> None:
        """Acknowledge ``tag``. The first ack of a batch waits ``FLUSH_PASSES`` loop passes
        for others and sends them all; the others return at once. Raises if the channel is
        gone (then RabbitMQ requeues the deliveries anyway)."""
        del self._unsettled[tag]
        self._unsent.append(tag)
        if self._flushing:
            return
        self._flushing = True
        try:
            # The handlers finishing meanwhile add their tags.
            for _ in range(FLUSH_PASSES):
                await asyncio.sleep(0)
            while self._unsent:
                await self._send()
        finally:
            self._flushing = False

    async def nack(self, tag: int) -> None:
        """Requeue ``tag`` now (``wait=False``: awaited only while the write queue is full)."""
        await self.channel.basic_nack(tag, requeue=True, wait=False)
        # Only now may a multiple ack reach past it: the nack is ahead of it on the socket.
        del self._unsettled[tag]

    async def _send(self) -> None:
        tags, self._unsent = sorted(self._unsent), []
        oldest = next(iter(self._unsettled), None)
        covered = len(tags) if oldest is None else bisect.bisect_left(tags, oldest)
        if covered:
            # Everything up to tags[covered - 1] is settled: acked now or acked/nacked before.
            await self.channel.basic_ack(tags[covered - 1], multiple=True, wait=False)
        for tag in tags[covered:]:
            await self.channel.basic_ack(tag, wait=False)


__all__ = ["Acknowledging", "ChannelAcks"]
