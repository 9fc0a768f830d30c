"""Media stream settings in the store, shared by every process.

Keys (P = tenant prefix): ``P stream:{id}`` holds ``{"edited": bool, "settings": {...}}``
(the stream as ``MediaStreamConfig`` JSON). ``sb:streams:version`` counts every change and
``sb:streams`` (pub/sub) names each changed stream as ``{tenant}|{id}``, so every process can
refresh its in-process copy at once (``router.stream_settings``).

The configuration file *seeds* a stream: it is written while the stream is not in the store
or was never edited by an admin. Once an admin edited it (API or console), the file no
longer changes it, so a restart with the same (or an older) file never undoes an edit.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Awaitable, Callable, Iterable

import redis.asyncio as aioredis
from redis.exceptions import RedisError, WatchError

from router.config import MediaStreamConfig
from router.store.base import tenant_prefix
from router.store.follower import Follower
from router.store.named import StaleObject

VERSION_KEY = "sb:streams:version"
CHANGES_CHANNEL = "sb:streams"


def _key(tenant: str, stream_id: str) -> str:
    return tenant_prefix(tenant) + "stream:" + stream_id


def _dump(stream: MediaStreamConfig, *, edited: bool) -> str:
    return json.dumps({"edited": edited, "settings": stream.model_dump(mode="json")})


def _load(raw: str) -> tuple[MediaStreamConfig, bool]:
    data = json.loads(raw)
    return MediaStreamConfig.model_validate(data["settings"]), bool(data.get("edited"))


class StreamStore:
    def __init__(self, client: aioredis.Redis) -> None:
        self._r = client

    async def get(self, tenant: str, stream_id: str) -> MediaStreamConfig | None:
        raw = await self._r.get(_key(tenant, stream_id))
        return _load(str(raw))[0] if raw else None

    async def is_edited(self, tenant: str, stream_id: str) -> bool:
        raw = await self._r.get(_key(tenant, stream_id))
        return _load(str(raw))[1] if raw else False

    async def load(self, tenant: str, stream_ids: Iterable[str]) -> dict[str, MediaStreamConfig]:
        """The stored settings of the given streams (those in the store)."""
        ids = list(stream_ids)
        if not ids:
            return {}
        raws = await self._r.mget([_key(tenant, i) for i in ids])
        return {i: _load(str(raw))[0] for i, raw in zip(ids, raws, strict=True) if raw}

    async def version(self) -> int:
        return int(await self._r.get(VERSION_KEY) or 0)

    async def seed(self, tenant: str, stream: MediaStreamConfig) -> bool:
        """Write the configuration file's settings unless an admin edited the stream.

        True when the stored settings changed."""
        key = _key(tenant, stream.id)
        async with self._r.pipeline(transaction=True) as pipe:
            await pipe.watch(key)
            raw = await pipe.get(key)
            if raw:
                current, edited = _load(str(raw))
                if edited or current == stream:
                    return False
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.set(key, _dump(stream, edited=False))
            pipe.incr(VERSION_KEY)
            try:
                await pipe.execute()
            except WatchError:
                return await self.seed(tenant, stream)  # someone wrote it: decide again
        await self._announce(tenant, stream.id)
        return True

    async def put(
        self, tenant: str, stream: MediaStreamConfig, *, expected: MediaStreamConfig | None = None
    ) -> None:
        """An admin's edit. With ``expected``, written only while the stored settings still
        equal it (compared and written in one transaction): else ``StaleObject``."""
        key = _key(tenant, stream.id)
        async with self._r.pipeline(transaction=True) as pipe:
            await pipe.watch(key)
            raw = await pipe.get(key)
            previous = _load(str(raw))[0] if raw else None
            if expected is not None and previous != expected:
                raise StaleObject("the media stream changed since it was read")
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.set(key, _dump(stream, edited=True))
            pipe.incr(VERSION_KEY)
            try:
                await pipe.execute()
            except WatchError:
                if expected is not None:
                    raise StaleObject("the media stream changed since it was read") from None
                return await self.put(tenant, stream)
        await self._announce(tenant, stream.id)

    async def _announce(self, tenant: str, stream_id: str) -> None:
        # Best effort: a lost announcement costs one poll of the version key.
        with contextlib.suppress(RedisError):
            await self._r.publish(CHANGES_CHANNEL, f"{tenant}|{stream_id}")

    def follower(self, check: Callable[[], Awaitable[object]]) -> Follower:
        """Runs ``check`` on every announced change and every tick once started."""
        return Follower(self._r, CHANGES_CHANNEL, check)
