"""This process's copy of named objects (integration accounts) for the paths that read one on
every message: the webhook (which account is this?) and the outbound worker.

A lookup answers from memory once the object was read; the copy follows the store:

- a change made by this process empties it at once (``NamedObjects.on_change``);
- every change raises the store's change counter and is announced on pub/sub; on an
  announcement, and every ``interval`` seconds in case one was lost, the counter is read
  (``router.store.follower``) and the copy is emptied when it moved.

Until ``start`` (and after ``close``) every lookup reads the store.
"""

from __future__ import annotations

import asyncio
from typing import Generic

from router.store.named import NamedObjects, T

# Unknown ids are remembered too (a provider retrying a webhook for a deleted account); past
# this many entries the copy starts over, so made-up ids cannot grow it without bound.
MAX_ENTRIES = 10_000


class NamedCache(Generic[T]):
    def __init__(self, objects: NamedObjects[T]) -> None:
        self._objects = objects
        self._items: dict[str, T | None] = {}
        self._version: int | None = None  # the counter the copy was filled under
        # Set whenever the copy is emptied because the store changed (waitable in tests).
        self.emptied = asyncio.Event()
        objects.on_change.append(self._forget)
        self._follower = objects.follower(self._check)
        # Set while change announcements are being received.
        self.listening = self._follower.listening

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
        self._version = await self._objects.version()
        self._follower.start(interval)

    async def close(self) -> None:
        self._version = None
        self._items.clear()
        await self._follower.close()

    def _forget(self) -> None:
        self._items.clear()
        self.emptied.set()

    async def _check(self) -> None:
        version = await self._objects.version()
        if self._version is not None and version != self._version:
            self._version = version
            self._forget()
