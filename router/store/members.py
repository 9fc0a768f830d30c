"""The live processes ("nodes") of one system, for spreading work over them
(``router.partitions``).

``sb:nodes`` is a sorted set of node ids, each scored by the time (milliseconds since the
epoch) its registration expires. Every node refreshes its own entry well before that; the
live nodes are the unexpired entries, and whoever refreshes next removes the expired ones.
Plain commands in one transaction, so the in-process store runs them as they are.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from router.errors import StoreError
from router.store.base import now_ms

NODES_KEY = "sb:nodes"


class MemberStore:
    def __init__(self, client: aioredis.Redis) -> None:
        self._r = client

    async def refresh(self, node: str, ttl: float) -> list[str]:
        """Register ``node`` as live for ``ttl`` seconds (again); every live node, ``node``
        included, sorted."""
        now = now_ms()
        try:
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.zadd(NODES_KEY, {node: now + int(ttl * 1000)})
                pipe.zremrangebyscore(NODES_KEY, "-inf", now)
                pipe.zrange(NODES_KEY, 0, -1)
                *_, nodes = await pipe.execute()
        except RedisError as exc:
            raise StoreError(f"node registration failed: {exc}") from exc
        return sorted(str(n) for n in nodes)

    async def leave(self, node: str) -> None:
        """``node`` stops (gracefully): the others stop counting on it at once."""
        try:
            await self._r.zrem(NODES_KEY, node)
        except RedisError as exc:
            raise StoreError(f"node deregistration failed: {exc}") from exc
