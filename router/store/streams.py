"""Media streams in the store, shared by every process.

Keys (P = tenant prefix): ``P stream:{id}`` holds one stream's record, ``StoredStream`` as
JSON: ``{"edited", "created", "deleted", "settings": {...}}`` (the settings as
``MediaStreamConfig`` JSON). ``sb:streams:ids`` is the set of every record's
``{tenant}|{id}``, so a process finds the streams admins created (which no configuration file
names). ``sb:streams:version`` counts every change and ``sb:streams`` (pub/sub) names each
changed stream as ``{tenant}|{id}``, so every process can refresh its in-process copy at once
(``router.stream_settings``).

The configuration file *seeds* a stream: it is written while the stream is not in the store
or was never edited by an admin. Once an admin edited it (API or console), the file no
longer changes it, so a restart with the same (or an older) file never undoes an edit.

An admin may also create a stream (``created``: served although no file names it) and delete
one. A deletion keeps the record as a *tombstone* (``deleted``, with the last settings, which
conversations filed just before the deletion still go by): it counts as an edit, so a restart
with a file that still names the stream does not bring it back. Creating the id again
replaces the tombstone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from router.config import MediaStreamConfig
from router.errors import ConflictError, NotFoundError
from router.models import Frozen
from router.store.base import tenant_prefix
from router.store.follower import Follower
from router.store.named import StaleObject
from router.store.optimistic import Requirement, watched

VERSION_KEY = "sb:streams:version"
CHANGES_CHANNEL = "sb:streams"
IDS_KEY = "sb:streams:ids"
CHANGED_SINCE_READ = "the media stream changed since it was read"
_CHUNK = 500


class StoredStream(Frozen):
    """One stream's record: its settings, whether an admin edited it (then the file no longer
    changes it), created it (then it is served although no file names it) or deleted it
    (a tombstone: ``settings`` are the last ones it had)."""

    settings: MediaStreamConfig
    edited: bool = False
    created: bool = False
    deleted: bool = False

    @property
    def live(self) -> MediaStreamConfig | None:
        """The settings, unless the stream was deleted."""
        return None if self.deleted else self.settings


def _key(tenant: str, stream_id: str) -> str:
    return tenant_prefix(tenant) + "stream:" + stream_id


def _member(tenant: str, stream_id: str) -> str:
    return f"{tenant}|{stream_id}"


def _load(raw: object) -> StoredStream | None:
    return StoredStream.model_validate_json(str(raw)) if raw else None


class StreamStore:
    def __init__(self, client: aioredis.Redis) -> None:
        self._r = client

    async def record(self, tenant: str, stream_id: str) -> StoredStream | None:
        return _load(await self._r.get(_key(tenant, stream_id)))

    async def get(self, tenant: str, stream_id: str) -> MediaStreamConfig | None:
        """The stored settings; None when the stream is not stored or was deleted."""
        found = await self.record(tenant, stream_id)
        return found.live if found is not None else None

    async def is_edited(self, tenant: str, stream_id: str) -> bool:
        found = await self.record(tenant, stream_id)
        return found.edited if found is not None else False

    async def records(
        self, also: Iterable[tuple[str, str]] = ()
    ) -> dict[tuple[str, str], StoredStream]:
        """Every record, by (tenant, stream id): those in the id set, and those of ``also``
        (streams of a file stored before the id set existed)."""
        pairs = set(also)
        for member in await self._r.smembers(IDS_KEY):
            tenant, _, stream_id = str(member).partition("|")
            pairs.add((tenant, stream_id))
        ordered = sorted(pairs)
        found: dict[tuple[str, str], StoredStream] = {}
        for start in range(0, len(ordered), _CHUNK):
            chunk = ordered[start : start + _CHUNK]
            raws = await self._r.mget([_key(t, s) for t, s in chunk])
            for pair, raw in zip(chunk, raws, strict=True):
                record = _load(raw)
                if record is not None:
                    found[pair] = record
        return found

    async def version(self) -> int:
        return int(await self._r.get(VERSION_KEY) or 0)

    def not_deleted(self, tenant: str, stream_id: str) -> Requirement:
        """For a write that points something at the stream (an integration account, a CPaaS
        number): it happens only while the stream is not deleted (``ConflictError``
        ``stream_deleted`` on the field ``stream``), checked in the write's own transaction,
        so it never races a deletion."""
        key = _key(tenant, stream_id)

        async def check() -> None:
            found = _load(await self._r.get(key))
            if found is not None and found.deleted:
                raise ConflictError(
                    "stream_deleted", f"media stream {stream_id!r} was deleted", field="stream"
                )

        return Requirement(keys=(key,), check=check)

    async def seed(self, tenant: str, stream: MediaStreamConfig) -> bool:
        """Write the configuration file's settings unless an admin edited (or created, or
        deleted) the stream. True when the stored settings changed."""

        def decide(current: StoredStream | None) -> StoredStream | None:
            if current is not None and (current.edited or current.live == stream):
                return None
            return StoredStream(settings=stream)

        return await self._write(tenant, stream.id, decide) is not None

    async def put(
        self, tenant: str, stream: MediaStreamConfig, *, expected: MediaStreamConfig | None = None
    ) -> None:
        """An admin's edit. With ``expected``, written only while the stored settings still
        equal it (compared and written in one transaction): else ``StaleObject``. A deleted
        stream is not brought back by an edit: ``NotFoundError``."""

        def decide(previous: StoredStream | None) -> StoredStream:
            if previous is not None and previous.deleted:
                raise NotFoundError(f"media stream {stream.id!r} was deleted")
            if expected is not None and (previous.live if previous else None) != expected:
                raise StaleObject(CHANGED_SINCE_READ)
            created = previous.created if previous is not None else False
            return StoredStream(settings=stream, edited=True, created=created)

        await self._write(tenant, stream.id, decide)

    async def create(self, tenant: str, stream: MediaStreamConfig, *, taken: bool) -> None:
        """An admin's new stream; ``ConflictError`` when ``taken`` (the caller serves a stream
        of that id) or another admin created one of that id meanwhile. It replaces a
        tombstone, and the stored settings of a stream the file no longer names."""

        def decide(previous: StoredStream | None) -> StoredStream:
            if taken or (previous is not None and previous.created and not previous.deleted):
                raise ConflictError("conflict", f"media stream {stream.id!r} exists")
            return StoredStream(settings=stream, edited=True, created=True)

        await self._write(tenant, stream.id, decide)

    async def delete(
        self, tenant: str, served: MediaStreamConfig, *, checked: bool = False,
        requires: Requirement | None = None,
    ) -> StoredStream:  # fmt: skip
        """An admin's deletion of the stream the caller serves as ``served``: its record
        becomes a tombstone, which is answered. With ``checked``, only while the stored
        settings still equal ``served`` (else ``StaleObject``); ``NotFoundError`` when it is
        deleted already. ``requires``: what else must hold, in the same transaction."""

        def decide(previous: StoredStream | None) -> StoredStream:
            if previous is not None and previous.deleted:
                raise NotFoundError(f"media stream {served.id!r} was deleted")
            # Not stored yet (a file's stream before its first seeding): the caller's view.
            last = previous.settings if previous is not None else served
            if checked and last != served:
                raise StaleObject(CHANGED_SINCE_READ)
            return StoredStream(settings=last, edited=True, deleted=True)

        tombstone = await self._write(tenant, served.id, decide, requires)
        assert tombstone is not None  # decide always answers a record
        return tombstone

    async def _write(
        self, tenant: str, stream_id: str,
        decide: Callable[[StoredStream | None], StoredStream | None],
        requires: Requirement | None = None,
    ) -> StoredStream | None:  # fmt: skip
        """Write what ``decide`` makes of the stored record (None: leave it), with the id
        and a new version, in one transaction; announced once written. When another writer
        got in between, read and decide again (``router.store.optimistic``); an exception
        from ``decide`` or ``requires`` ends it with nothing written."""
        key = _key(tenant, stream_id)

        async def attempt(pipe: Pipeline) -> StoredStream | None:
            record = decide(_load(await pipe.get(key)))
            if record is None:
                return None
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.set(key, record.model_dump_json())
            pipe.sadd(IDS_KEY, _member(tenant, stream_id))
            pipe.incr(VERSION_KEY)
            await pipe.execute()
            return record

        record = await watched(self._r, [key], attempt, requires=requires)
        if record is not None:
            await self._announce(tenant, stream_id)
        return record

    async def _announce(self, tenant: str, stream_id: str) -> None:
        # Best effort: a lost announcement costs one poll of the version key.
        with contextlib.suppress(RedisError):
            await self._r.publish(CHANGES_CHANNEL, _member(tenant, stream_id))

    def follower(self, check: Callable[[], Awaitable[object]]) -> Follower:
        """Runs ``check`` on every announced change and every tick once started."""
        return Follower(self._r, CHANGES_CHANNEL, check)
