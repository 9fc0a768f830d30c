"""Searching a tenant's sessions (conversations) without scanning the keyspace.

The Lua scripts that write sessions keep, atomically with the write, sorted sets of session
ids scored by the session's ``created_at`` (milliseconds):

=======================  ===========================================================
``P sx:t``               every session of the tenant
``P sx:s:{stream}``      sessions of a media stream
``P sx:c:{channel}``     sessions of a channel (``webchat``, ``sms``, ...)
``P sx:p:{party}``       sessions of a remote party (its channel id: number, user id)
``P sx:q:{queue}``       sessions that were ever in a queue (opened, transferred, handed off)
``P sx:a:{agent}``       sessions that were ever assigned to an agent
=======================  ===========================================================

and a set of the sessions of each stream that are not closed (``P so:{stream}``, added by
``ingest.lua`` as it opens or reopens one, removed by ``close.lua``), so deleting a stream
counts its open conversations without reading its closed ones.

A search reads the smallest of the sets its filters name (newest first, within the creation
range), keeps the candidates present in every other named set, then checks the state on the
session hashes and, for a text query, the message texts. Bounds: at most ``SCAN_LIMIT``
candidates are examined and at most ``TEXT_LIMIT`` histories are read per search; when a
bound cuts the search short the answer says ``truncated`` (narrow it with filters or a
creation range). Index entries whose session was deleted are pruned when met. Sessions
an earlier version wrote without indexes are indexed once at start-up
(``router.store.search_backfill``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from router.errors import StoreError
from router.models import Frozen
from router.store.base import epoch_ms, tenant_prefix
from router.store.search_backfill import DONE_KEY

SCAN_LIMIT = 5000
TEXT_LIMIT = 1000
_CHUNK = 500


def open_sessions_key(tenant: str, stream: str) -> str:
    """The set of the sessions of ``stream`` that are not closed."""
    return tenant_prefix(tenant) + "so:" + stream


class SessionFilter(Frozen):
    """What a session search keeps; every given field narrows it (all must hold)."""

    state: Literal["open", "closed"] | None = None
    queue: str | None = None
    stream: str | None = None
    agent: str | None = None
    channel: str | None = None
    party: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    text: str | None = None


class SearchHits(Frozen):
    """One page of matching session hashes (newest first), the number of matches, and
    whether a search bound cut the search short."""

    page: tuple[dict[str, str], ...]
    total: int
    truncated: bool


def _texts_match(history: Sequence[str], needle: str) -> bool:
    for item in history:
        if needle not in item.casefold():  # cheap pre-check on the raw JSON
            continue
        text = json.loads(item).get("text")
        if isinstance(text, str) and needle in text.casefold():
            return True
    return False


class TranscriptStore:
    def __init__(self, client: aioredis.Redis) -> None:
        self._r = client

    async def search(
        self, tenant: str, query: SessionFilter, *, limit: int, offset: int
    ) -> SearchHits:
        try:
            return await self._search(tenant, query, limit=limit, offset=offset)
        except RedisError as exc:
            raise StoreError(f"cannot search sessions: {exc}") from exc

    async def _search(
        self, tenant: str, query: SessionFilter, *, limit: int, offset: int
    ) -> SearchHits:
        p = tenant_prefix(tenant) + "sx:"
        dims = (
            ("s", query.stream),
            ("c", query.channel),
            ("p", query.party),
            ("q", query.queue),
            ("a", query.agent),
        )
        keys = [p + "t"] + [f"{p}{dim}:{value}" for dim, value in dims if value]
        async with self._r.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.zcard(key)
            sizes = [int(n) for n in await pipe.execute()]
        if min(sizes) == 0:
            return SearchHits(page=(), total=0, truncated=False)
        driver = keys[sizes.index(min(sizes))]
        high = epoch_ms(query.created_to) if query.created_to else "+inf"
        low = epoch_ms(query.created_from) if query.created_from else "-inf"
        ids = [
            str(sid)
            for sid in await self._r.zrevrangebyscore(
                driver, high, low, start=0, num=SCAN_LIMIT + 1
            )
        ]
        truncated = len(ids) > SCAN_LIMIT
        ids = ids[:SCAN_LIMIT]
        for key in keys[1:]:  # every session is in sx:t
            if key != driver and ids:
                ids = await self._members(key, ids)
        hashes = await self._hashes(tenant, ids)
        gone = [sid for sid, raw in zip(ids, hashes, strict=True) if not raw]
        if gone:
            await self._prune(keys, gone)
        found = [raw for raw in hashes if raw and _state_ok(raw, query.state)]
        if query.text:
            if len(found) > TEXT_LIMIT:
                found, truncated = found[:TEXT_LIMIT], True
            found = await self._with_text(tenant, found, query.text.casefold())
        return SearchHits(
            page=tuple(found[offset : offset + limit]), total=len(found), truncated=truncated
        )

    async def open_in_stream(self, tenant: str, stream: str) -> int:
        """How many sessions of ``stream`` are not closed. Read from the stream's open sessions
        (``so:{stream}``, which the scripts keep), each checked on its hash; until the store's
        indexes are built (``search_backfill.DONE_KEY``), from every session of the stream,
        ``_CHUNK`` at a time."""
        p = tenant_prefix(tenant)
        try:
            if await self._r.exists(DONE_KEY):
                ids = [str(i) for i in await self._r.smembers(open_sessions_key(tenant, stream))]
                return await self._still_open(p, ids)
            key, count, start = p + "sx:s:" + stream, 0, 0
            while ids := [str(i) for i in await self._r.zrevrange(key, start, start + _CHUNK - 1)]:
                count += await self._still_open(p, ids)
                start += _CHUNK
        except RedisError as exc:
            raise StoreError(f"cannot count the sessions of {stream!r}: {exc}") from exc
        return count

    async def _still_open(self, p: str, ids: list[str]) -> int:
        """How many of the sessions ``ids`` (under tenant prefix ``p``) are there and not
        closed."""
        count = 0
        for start in range(0, len(ids), _CHUNK):
            async with self._r.pipeline(transaction=False) as pipe:
                for sid in ids[start : start + _CHUNK]:
                    pipe.hget(p + "s:" + sid, "state")
                states = await pipe.execute()
            count += sum(1 for state in states if state is not None and state != "closed")
        return count

    async def _members(self, key: str, ids: list[str]) -> list[str]:
        kept: list[str] = []
        for start in range(0, len(ids), _CHUNK):
            chunk = ids[start : start + _CHUNK]
            scores = await self._r.zmscore(key, chunk)
            kept.extend(sid for sid, score in zip(chunk, scores, strict=True) if score is not None)
        return kept

    async def _hashes(self, tenant: str, ids: list[str]) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        p = tenant_prefix(tenant) + "s:"
        for start in range(0, len(ids), _CHUNK):
            async with self._r.pipeline(transaction=False) as pipe:
                for sid in ids[start : start + _CHUNK]:
                    pipe.hgetall(p + sid)
                out.extend(await pipe.execute())
        return out

    async def _prune(self, keys: list[str], gone: list[str]) -> None:
        async with self._r.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.zrem(key, *gone)
            await pipe.execute()

    async def _with_text(
        self, tenant: str, found: list[dict[str, str]], needle: str
    ) -> list[dict[str, str]]:
        p = tenant_prefix(tenant) + "h:"
        kept: list[dict[str, str]] = []
        for start in range(0, len(found), _CHUNK):
            chunk = found[start : start + _CHUNK]
            async with self._r.pipeline(transaction=False) as pipe:
                for raw in chunk:
                    pipe.lrange(p + raw["id"], 0, -1)
                histories = await pipe.execute()
            kept.extend(
                raw
                for raw, history in zip(chunk, histories, strict=True)
                if _texts_match([str(item) for item in history], needle)
            )
        return kept


def _state_ok(raw: dict[str, str], state: str | None) -> bool:
    if state is None:
        return True
    return (raw.get("state") == "closed") == (state == "closed")
