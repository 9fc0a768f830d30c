"""Timers shared by all processes: offer expiry, inactivity close, and the outboxes of the
waiting line and of filed messages not yet claimed by a delivery.

Timers live in one Redis sorted set. Every tick each process leases the due ones (a lease
moves them into the future), handles them and then removes them. A process that dies
mid-way leaves its leased timers to come due again, so no timer is lost; handlers are
idempotent because every store transition checks the state it expects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from queues.base import BrokerError
from router.conversations import Conversations
from router.errors import NotFoundError, RouterError
from router.store import RedisStore
from router.store.base import Timer
from router.store.filing import COMPLIANCE_SEND_TIMER, SEND_TIMER
from router.tasks import cancel_quietly

log = logging.getLogger(__name__)


class Scheduler:
    def __init__(self, store: RedisStore, conversations: Conversations, tick: float) -> None:
        self.store = store
        self.conversations = conversations
        self.tick = tick
        self._task: asyncio.Task[None] | None = None
        self.wake = asyncio.Event()
        # Checked every pass: a cancellation swallowed inside a client library (redis-py can
        # absorb one mid-command) must not keep the loop, and so close(), running forever.
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def close(self) -> None:
        if self._task is not None:
            self._stopping = True
            await cancel_quietly(self._task)
            self._task = None

    async def _loop(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.tick)
            self.wake.clear()
            try:
                await self.run_due()
            except Exception:
                # Never let the loop die: a timer that failed comes back when its lease ends.
                log.exception("timer pass failed")

    async def run_due(self) -> int:
        """Handle every due timer once; returns how many were handled."""
        timers = await self.store.claim_timers(lease_seconds=max(30.0, self.tick * 10))
        for timer in timers:
            try:
                handled = await self._handle(timer)
            except NotFoundError:
                handled = True  # the session or its stream is gone: nothing left to do
            except (RouterError, BrokerError):  # the store or the broker is away for now
                log.warning("timer %s failed; it will come back", timer.member, exc_info=True)
                continue
            except Exception:
                # One broken timer must not hold back the others of its batch.
                log.exception("timer %s failed unexpectedly; it will come back", timer.member)
                continue
            if handled:
                await self.store.complete_timer(timer)
        return len(timers)

    async def _handle(self, timer: Timer) -> bool:
        conv = self.conversations
        if timer.kind == "offer" and timer.token:
            return await conv.expire_offer(timer.tenant, timer.session_id, timer.token)
        if timer.kind == "inact":
            await conv.close(
                timer.tenant, timer.session_id, reason="inactivity", only_if_inactive=True
            )
            return True
        if timer.kind == "queue" and timer.token:
            await conv.publish_queue_item(timer.tenant, timer.session_id, int(timer.token))
            return True
        if timer.kind in (SEND_TIMER, COMPLIANCE_SEND_TIMER) and timer.token:
            await conv.queue_unclaimed(
                timer.tenant, timer.session_id, int(timer.token),
                compliance=timer.kind == COMPLIANCE_SEND_TIMER,
            )  # fmt: skip
            return True
        log.warning("unknown timer %s dropped", timer.member)
        return True
