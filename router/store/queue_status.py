"""The last ``queue.status`` event emitted per queue, shared by every process
(``router.queue_events``).

``P qsev:{queue}`` holds the signature of the statistics last emitted; ``P qsev-hold:{queue}``
exists for the throttle interval after an emission. ``claim`` compares and sets both in one
script, so of all the processes that see the same change exactly one emits it.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from router.errors import StoreError
from router.store.base import tenant_prefix

CLAIM_SCRIPT = """
if redis.call("EXISTS", KEYS[2]) == 1 then return 0 end
if redis.call("GET", KEYS[1]) == ARGV[1] then return 0 end
redis.call("SET", KEYS[1], ARGV[1])
if tonumber(ARGV[2]) > 0 then redis.call("SET", KEYS[2], "1", "PX", ARGV[2]) end
return 1
"""


class QueueStatusStore:
    def __init__(self, client: aioredis.Redis) -> None:
        self._r = client
        self._claim = client.register_script(CLAIM_SCRIPT)

    async def claim(self, tenant: str, queue: str, signature: str, hold_ms: int) -> bool:
        """True for the one caller that should emit ``signature``: it differs from the last
        one emitted for the queue and no emission happened in the last ``hold_ms``."""
        p = tenant_prefix(tenant)
        keys = [f"{p}qsev:{queue}", f"{p}qsev-hold:{queue}"]
        try:
            return bool(await self._claim(keys=keys, args=[signature, hold_ms]))
        except RedisError as exc:
            raise StoreError(f"queue status claim failed: {exc}") from exc
