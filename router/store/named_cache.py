"""This process's copy of named objects (integration accounts) for the paths that read one on
every message: the webhook (which account is this?) and the outbound worker.

A lookup answers from memory once the object was read; the copy follows the store:

- a change made by this process empties it at once (``NamedObjects.on_change``);
- every change raises the store's change counter and is announced on pub/sub; when an
  announcement carries a counter other than the one the copy was filled under, it is emptied;
- as a safety net for a lost announcement (a Redis reconnect), the counter is read every
  ``interval`` seconds.

Until ``start`` (and after ``close``) every lookup reads the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Generic

from router.store.named import NamedObjects, T

log = logging.getLogger(__name__)
# Unknown ids are remembered too (a provider retrying a webhook for a deleted account); past
# this many entries the copy starts over, so made-up ids cannot grow it without bound.
MAX_ENTRIES = 10_000


class NamedCache(Generic[T]):
    def __init__(self, objects: NamedObjects[T]) -> None:
        self._objects = objects
        self._items: dict[str, T | None] = {}
        self._version: int | None = None  # the counter the copy was filled under
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        # Set whenever the copy is emptied because the store changed (waitable in tests).
        self.emptied = asyncio.Event()
        # Set while change announcements are being received.
        self.listening = asyncio.Event()
        objects.on_change.append(self._forget)

    @property
    def following(self) -> bool:
        return self._version is not None

    async def get(self, object_id: str) -> T | None:
        if object_id in self._items:
            return self._items[object_id]
        version = self._version
        found = await self._objects.get(object_id)
        # Kept only if nothing changed while it was read (else it may be the old object).
        if version is not None and version == self._version:
            if len(self._items) >= MAX_ENTRIES:
                self._items.clear()
            self._items[object_id] = found
        return found

    async def get_in(self, tenant: str, object_id: str) -> T | None:
        found = await self.get(object_id)
        return found if found is not None and found.tenant == tenant else None

    async def start(self, interval: float) -> None:
        self._stopping.clear()
        self._version = await self._objects.version()
        self._tasks = [
            asyncio.create_task(self._listen()),
            asyncio.create_task(self._poll(interval)),
        ]

    async def close(self) -> None:
        self._stopping.set()
        self._version = None
        self._items.clear()
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            # A client library may swallow one cancellation (e.g. while subscribing): cancel
            # again until the task ends.
            while not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=0.5)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                task.result()

    def _forget(self) -> None:
        self._items.clear()
        self.emptied.set()

    def _seen(self, version: int) -> None:
        if self._version is not None and version != self._version:
            self._version = version
            self._forget()

    async def _listen(self) -> None:
        while not self._stopping.is_set():
            try:
                async for version in self._objects.changes(self.listening.set):
                    self._seen(version)
            except Exception:
                log.debug("change announcements interrupted", exc_info=True)
            self.listening.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), 1.0)

    async def _poll(self, interval: float) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), interval)
            if self._stopping.is_set():
                return
            try:
                self._seen(await self._objects.version())
            except Exception:
                log.debug("change counter unreadable", exc_info=True)
