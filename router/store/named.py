"""Tenant objects with a global id and a name unique within their tenant (integration
accounts, bot accounts), kept with their secrets for the processes that call providers.

Keys (P = tenant prefix): ``{owner}{id}`` -> tenant (ids are global: webhook URLs carry only
the id), ``P {item}{id}`` the object, ``P {index}`` the tenant's ids, ``P {name}{name}`` -> id.
Every change raises a counter (``{owner prefix}s:version``) in the same transaction and is
announced on ``{owner prefix}s:changes`` with the new count, so a process's copies
(``router.store.named_cache``) follow the store.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Generic, Protocol, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from router.errors import ConflictError
from router.store.base import tenant_prefix
from router.store.follower import Follower
from router.store.optimistic import Requirement, watched


class Named(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def tenant(self) -> str: ...
    @property
    def name(self) -> str: ...


T = TypeVar("T", bound=Named)


class StaleObject(Exception):
    """A checked replacement found the object changed since it was read (HTTP 412)."""


class NamedObjects(Generic[T]):
    def __init__(
        self,
        client: aioredis.Redis,
        *,
        what: str,
        keys: tuple[str, str, str, str],
        dump: Callable[[T], str],
        load: Callable[[str], T],
    ) -> None:
        self._r = client
        self._what = what
        self._owner, self._item, self._index, self._name = keys
        self._dump = dump
        self._load = load
        family = self._owner.rstrip(":") + "s:"
        self.version_key, self.changes_channel = family + "version", family + "changes"
        # Called after every change made through this instance (this process's copies).
        self.on_change: list[Callable[[], None]] = []

    async def get(self, object_id: str) -> T | None:
        tenant = await self._r.get(self._owner + object_id)
        if tenant is None:
            return None
        raw = await self._r.get(tenant_prefix(str(tenant)) + self._item + object_id)
        return self._load(str(raw)) if raw else None

    async def get_in(self, tenant: str, object_id: str) -> T | None:
        found = await self.get(object_id)
        return found if found is not None and found.tenant == tenant else None

    async def list(self, tenant: str) -> list[T]:
        ids = sorted(str(i) for i in await self._r.smembers(tenant_prefix(tenant) + self._index))
        found = [await self.get_in(tenant, object_id) for object_id in ids]
        return [f for f in found if f is not None]

    async def put(
        self, obj: T, *, create: bool, expected: T | None = None,
        requires: Requirement | None = None,
    ) -> None:  # fmt: skip
        """Create (id and name must be free) or replace an object of its tenant.

        With ``expected``, the replacement happens only while the stored object still equals
        it (compared and written in one transaction, under ``WATCH``): else ``StaleObject``.
        ``requires``: what else must hold, checked under the same ``WATCH``.
        """
        p = tenant_prefix(obj.tenant)
        item, name = p + self._item + obj.id, p + self._name + obj.name

        async def attempt(pipe: Pipeline) -> int:
            owner = await pipe.get(self._owner + obj.id)
            if owner is not None and (create or str(owner) != obj.tenant):
                raise ConflictError(
                    "duplicate_id", f"{self._what} with id {obj.id!r} exists", field="id"
                )
            holder = await pipe.get(name)
            if holder is not None and str(holder) != obj.id:
                raise ConflictError(
                    "duplicate_name", f"{self._what} named {obj.name!r} exists", field="name"
                )
            raw = await pipe.get(item) if owner is not None else None
            previous = self._load(str(raw)) if raw else None
            if expected is not None and previous != expected:
                raise StaleObject(f"the {self._what} changed since it was read")
            pipe.multi()  # type: ignore[no-untyped-call]
            if previous is not None and previous.name != obj.name:
                pipe.delete(p + self._name + previous.name)
            pipe.set(self._owner + obj.id, obj.tenant)
            pipe.set(item, self._dump(obj))
            pipe.set(name, obj.id)
            pipe.sadd(p + self._index, obj.id)
            pipe.incr(self.version_key)
            return int((await pipe.execute())[-1])

        # Written by someone else in between: read, compare and check again (a checked
        # replacement of an object that did change is then stale).
        keys = [self._owner + obj.id, item, name]
        await self._announce(await watched(self._r, keys, attempt, requires=requires))

    async def delete(self, tenant: str, object_id: str) -> bool:
        found = await self.get_in(tenant, object_id)
        if found is None:
            return False
        p = tenant_prefix(tenant)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.delete(self._owner + object_id, p + self._item + object_id)
            pipe.delete(p + self._name + found.name)
            pipe.srem(p + self._index, object_id)
            pipe.incr(self.version_key)
            version = (await pipe.execute())[-1]
        await self._announce(int(version))
        return True

    async def version(self) -> int:
        """The change counter: it moves on every change, from any process."""
        return int(await self._r.get(self.version_key) or 0)

    def follower(self, check: Callable[[], Awaitable[object]]) -> Follower:
        """Runs ``check`` on every announced change and every tick once started."""
        return Follower(self._r, self.changes_channel, check)

    async def _announce(self, version: int) -> None:
        for callback in self.on_change:
            callback()
        # Best effort: a lost announcement is caught by the readers' poll of the counter.
        with contextlib.suppress(RedisError):
            await self._r.publish(self.changes_channel, str(version))
