"""Event-webhook subscriptions of a tenant and their delivery logs (``router.event_bus``).

``P evsub`` hash id -> subscription JSON (with its secret, which only the signer reads);
``P evlog:{id}`` list of delivery-attempt JSON, newest first, trimmed to ``LOG_SIZE``.
A checked replacement (``put(expected=...)``) compares and writes in one transaction.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from pydantic import BaseModel, ConfigDict
from redis.asyncio.client import Pipeline

from router.store.base import tenant_prefix
from router.store.named import StaleObject
from router.store.optimistic import watched

LOG_SIZE = 200


class StoredSubscription(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    tenant: str
    url: str
    events: tuple[str, ...]
    secret: str
    enabled: bool = True
    created_at: str

    def wants(self, event_type: str) -> bool:
        return self.enabled and ("*" in self.events or event_type in self.events)


class DeliveryAttempt(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    delivery_id: str
    event_type: str
    attempt: int
    # delivered | retrying | failed | dead_lettered
    outcome: str
    status_code: int | None = None
    error: str | None = None
    duration_ms: float
    at: str


class EventSubscriptionStore:
    def __init__(self, client: aioredis.Redis) -> None:
        self._r = client

    async def all(self, tenant: str) -> list[StoredSubscription]:
        raw = await self._r.hvals(f"{tenant_prefix(tenant)}evsub")
        subs = [StoredSubscription.model_validate_json(v) for v in raw]
        return sorted(subs, key=lambda s: (s.created_at, s.id))

    async def get(self, tenant: str, sub_id: str) -> StoredSubscription | None:
        raw = await self._r.hget(f"{tenant_prefix(tenant)}evsub", sub_id)
        return StoredSubscription.model_validate_json(raw) if raw else None

    async def put(
        self, sub: StoredSubscription, *, expected: StoredSubscription | None = None
    ) -> None:
        """Create or replace a subscription. With ``expected``, replaced only while the stored
        one still equals it (compared and written in one transaction): else ``StaleObject``."""
        key = f"{tenant_prefix(sub.tenant)}evsub"
        if expected is None:
            await self._r.hset(key, sub.id, sub.model_dump_json())
            return

        async def attempt(pipe: Pipeline) -> None:
            raw = await pipe.hget(key, sub.id)
            if (StoredSubscription.model_validate_json(raw) if raw else None) != expected:
                raise StaleObject("the event subscription changed since it was read")
            pipe.multi()  # type: ignore[no-untyped-call]
            pipe.hset(key, sub.id, sub.model_dump_json())
            await pipe.execute()

        await watched(self._r, [key], attempt)

    async def delete(self, tenant: str, sub_id: str) -> bool:
        p = tenant_prefix(tenant)
        removed = int(await self._r.hdel(f"{p}evsub", sub_id))
        await self._r.delete(f"{p}evlog:{sub_id}")
        return removed > 0

    async def log_attempt(self, tenant: str, sub_id: str, attempt: DeliveryAttempt) -> None:
        key = f"{tenant_prefix(tenant)}evlog:{sub_id}"
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.lpush(key, attempt.model_dump_json())
            pipe.ltrim(key, 0, LOG_SIZE - 1)
            await pipe.execute()

    async def attempts(self, tenant: str, sub_id: str) -> list[DeliveryAttempt]:
        raw = await self._r.lrange(f"{tenant_prefix(tenant)}evlog:{sub_id}", 0, LOG_SIZE - 1)
        return [DeliveryAttempt.model_validate_json(v) for v in raw]
