"""Keeping an in-process copy of stored objects current: ``Follower``.

A family of stored objects (integration accounts, media streams, the tenant directory)
raises a change counter with every change and announces the change on a pub/sub channel
(``announcements``). A process keeping a copy runs a ``Follower``, whose ``check`` (compare
the counter, reload what moved) runs at once on every announcement and, as a safety net for
a lost announcement (a Redis reconnect), every ``interval`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import redis.asyncio as aioredis

from router.tasks import cancel_quietly

log = logging.getLogger(__name__)
RETRY_SECONDS = 1.0  # between attempts to subscribe again
# How long ``close`` lets a check in progress finish before cancelling it (Redis gone).
CLOSE_GRACE_SECONDS = 5.0


async def announcements(
    client: aioredis.Redis, channel: str, subscribed: Callable[[], None] | None = None
) -> AsyncIterator[str]:
    """Every message published on ``channel`` from now on (``subscribed`` is called once
    messages are being received)."""
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(channel)
    if subscribed is not None:
        subscribed()
    try:
        async for item in pubsub.listen():
            yield str(item["data"])
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]


class Follower:
    """Runs ``check`` on every announcement on ``channel`` and every ``interval`` seconds,
    one check at a time, from ``start`` until ``close``."""

    def __init__(
        self,
        client: aioredis.Redis,
        channel: str,
        check: Callable[[], Awaitable[object]],
    ) -> None:
        self._client = client
        self._channel = channel
        self._check = check
        self._interval = 0.0
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._tasks: tuple[asyncio.Task[None], asyncio.Task[None]] | None = None
        # Set while announcements are being received.
        self.listening = asyncio.Event()

    def start(self, interval: float) -> None:
        self._interval = interval
        self._stopping.clear()
        self._tasks = (asyncio.create_task(self._listen()), asyncio.create_task(self._run()))

    async def close(self) -> None:
        if self._tasks is None:
            return
        listener, runner = self._tasks
        self._tasks = None
        self._stopping.set()
        self._wake.set()
        await cancel_quietly(listener)
        # The runner is stopped rather than cancelled, so no check is cut in half; it may
        # not hold up the shutdown for long though.
        await asyncio.wait((runner,), timeout=CLOSE_GRACE_SECONDS)
        await cancel_quietly(runner)

    async def _listen(self) -> None:
        while not self._stopping.is_set():
            try:
                async for _ in announcements(self._client, self._channel, self.listening.set):
                    self._wake.set()
            except Exception:
                lost = self.listening.is_set()
                (log.warning if lost else log.debug)(
                    "announcements on %s %s; retrying",
                    self._channel,
                    "lost" if lost else "unavailable",
                    exc_info=True,
                )
            self.listening.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), RETRY_SECONDS)

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                await self._check()
            except Exception:
                log.debug("checking %s for changes failed", self._channel, exc_info=True)
