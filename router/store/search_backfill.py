"""Search indexes for sessions written before the store kept them (``router.store.transcripts``).

The scripts index a session as they write it. A store that holds sessions written by an
earlier version, which did not, gets them indexed once, in the background, by the first
process that starts: every session hash in the keyspace is read (``SCAN``, a batch at a time)
and added to the sets it belongs in by what it holds now:

- every session, its stream, its channel and its remote party, as the scripts index them;
- the queue it is in now, and the agent it is (or was last) assigned to. The queues and
  agents it went through before a transfer are not recorded on the session, so an older
  session is not found under those;
- if it is not closed, its stream's open sessions (``so:{stream}``, which deleting a stream
  counts).

Adding a session to a set it is in already changes nothing, so sessions written meanwhile
(indexed by their scripts) and a second run are harmless. ``DONE_KEY`` marks the store as
indexed, so later starts skip the scan; it names the version of the indexes (``:2`` added the
open sessions), so a store indexed by an earlier version is scanned once more. ``LOCK_KEY``
lets one process scan at a time; the others wait until the store is indexed, and take over
if the scanning process stops halfway (its lock expires).
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import redis.asyncio as aioredis
from pydantic import ValidationError
from redis.exceptions import LockError, RedisError

from router.models import Party

DONE_KEY = "sb:sx:built:2"
LOCK_KEY = "sb:sx:building"
LOCK_SECONDS = 120
BATCH = 500
_FIELDS = ("created_at", "stream", "channel", "party", "queue", "agent", "last_agent", "state")


def _session_key(key: str) -> tuple[str, str] | None:
    """``(tenant prefix, session id)`` of a session hash key ``sb:{tenant}:s:{sid}``; None
    for any other key the pattern matched (tenant ids and session ids hold no colon)."""
    parts = key.split(":")
    if len(parts) != 4 or parts[0] != "sb" or parts[2] != "s" or not parts[1] or not parts[3]:
        return None
    return f"sb:{parts[1]}:", parts[3]


def _party_id(raw: str | None) -> str | None:
    """The remote party's id from the session's ``party`` field (the ``Party`` as JSON)."""
    if not raw:
        return None
    try:
        return Party.model_validate_json(raw).id
    except ValidationError:
        return None


def _dimensions(fields: list[str | None]) -> list[str]:
    """The index dimensions (``t``, ``s:{stream}``, ...) of a session from its hash fields in
    ``_FIELDS`` order; none without an opening time (the scripts index none then either)."""
    created, stream, channel, party, queue, agent, last_agent, _ = fields
    if not created:
        return []
    dims = ["t", f"s:{stream or ''}", f"c:{channel or ''}"]
    party_id = _party_id(party)
    if party_id is not None:
        dims.append(f"p:{party_id}")
    if queue:
        dims.append(f"q:{queue}")
    dims += [f"a:{a}" for a in dict.fromkeys((agent, last_agent)) if a]
    return dims


async def _index(client: aioredis.Redis, keys: list[tuple[str, str]]) -> int:
    async with client.pipeline(transaction=False) as pipe:
        for prefix, sid in keys:
            pipe.hmget(f"{prefix}s:{sid}", list(_FIELDS))
        rows = await pipe.execute()
    indexed = 0
    async with client.pipeline(transaction=False) as pipe:
        for (prefix, sid), row in zip(keys, rows, strict=True):
            fields = [None if v is None else str(v) for v in row]
            dims = _dimensions(fields)
            if not dims:
                continue
            score = float(fields[0] or 0)
            for dim in dims:
                pipe.zadd(f"{prefix}sx:{dim}", {sid: score})
            if fields[-1] != "closed":
                pipe.sadd(f"{prefix}so:{fields[1] or ''}", sid)
            indexed += 1
        await pipe.execute()
    return indexed


class BackfillBusy(Exception):
    """Another process is indexing the store (it holds ``LOCK_KEY``)."""


async def backfill_search_indexes(client: aioredis.Redis) -> int:
    """Index every session in the store, once per store: how many were indexed (0 when the
    store was indexed already). ``BackfillBusy`` while another process is at it; ``LockError``
    when this one took so long that its lock expired (another may have taken over)."""
    if await client.exists(DONE_KEY):
        return 0
    lock = client.lock(LOCK_KEY, timeout=LOCK_SECONDS, blocking=False)
    if not await lock.acquire():
        raise BackfillBusy
    indexed = 0
    try:
        batch: list[tuple[str, str]] = []
        async for raw in client.scan_iter(match="sb:*:s:*", count=BATCH, _type="HASH"):
            found = _session_key(raw if isinstance(raw, str) else raw.decode())
            if found is None:
                continue
            batch.append(found)
            if len(batch) >= BATCH:
                indexed += await _index(client, batch)
                batch.clear()
                await lock.reacquire()
        if batch:
            indexed += await _index(client, batch)
        await client.set(DONE_KEY, datetime.now(UTC).isoformat())
    finally:
        with contextlib.suppress(LockError, RedisError):
            await lock.release()
    return indexed
