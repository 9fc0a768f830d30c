"""What happened to outbound messages after they were filed: provider ids, delivery status,
and contacts that can no longer be reached on an account.

``P pm:{account}:{provider id}`` -> ``{sid}|{seq}`` (status events name only the provider id);
``P st:{sid}`` hash seq -> ``{status}|{reason}``; ``P unr:{account}`` hash party -> reason.
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from router.models import MessageStatus
from router.store.base import tenant_prefix

PROVIDER_ID_TTL = 30 * 24 * 3600
# A status never moves backwards (a late "delivered" does not undo "read"); failed is final.
_RANK = {
    MessageStatus.QUEUED: 0,
    MessageStatus.SENT: 1,
    MessageStatus.DELIVERED: 2,
    MessageStatus.READ: 3,
    MessageStatus.FAILED: 4,
}


class DeliveryStore:
    def __init__(self, client: aioredis.Redis) -> None:
        self._r = client

    async def record_sent(
        self, tenant: str, account: str, provider_ids: list[str], session_id: str, seq: int
    ) -> None:
        p = tenant_prefix(tenant)
        async with self._r.pipeline(transaction=False) as pipe:
            for pmid in provider_ids:
                pipe.set(f"{p}pm:{account}:{pmid}", f"{session_id}|{seq}", ex=PROVIDER_ID_TTL)
            await pipe.execute()
        await self.set_status(tenant, session_id, seq, MessageStatus.SENT)

    async def set_status(
        self,
        tenant: str,
        session_id: str,
        seq: int,
        status: MessageStatus,
        reason: str | None = None,
    ) -> bool:
        key = f"{tenant_prefix(tenant)}st:{session_id}"
        current = await self._r.hget(key, str(seq))
        if current is not None:
            old = MessageStatus(str(current).split("|", 1)[0])
            if old is MessageStatus.FAILED or _RANK.get(old, 0) >= _RANK.get(status, 0):
                return False
        await self._r.hset(key, str(seq), f"{status.value}|{reason or ''}")
        return True

    async def update_by_provider_id(
        self, tenant: str, account: str, provider_id: str, status: MessageStatus,
        reason: str | None,
    ) -> tuple[str, int] | None:  # fmt: skip
        """Apply a provider status event; returns (session, seq) when it was ours."""
        found = await self._r.get(f"{tenant_prefix(tenant)}pm:{account}:{provider_id}")
        if found is None:
            return None
        session_id, _, seq = str(found).rpartition("|")
        await self.set_status(tenant, session_id, int(seq), status, reason)
        return session_id, int(seq)

    async def statuses(
        self, tenant: str, session_id: str
    ) -> dict[int, tuple[MessageStatus, str | None]]:
        raw = await self._r.hgetall(f"{tenant_prefix(tenant)}st:{session_id}")
        out: dict[int, tuple[MessageStatus, str | None]] = {}
        for seq, value in raw.items():
            status, _, reason = str(value).partition("|")
            out[int(seq)] = (MessageStatus(status), reason or None)
        return out

    async def throttle(self, account: str, per_second: float) -> float:
        """A one-second window shared by every process: 0.0 when a send to ``account`` may go
        now, else how long to wait for the next window."""
        now = time.time()
        window = int(now)
        key = f"sb:rl:{account}:{window}"
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.incr(key)
            pipe.expire(key, 2)
            count, _ = await pipe.execute()
        return 0.0 if int(count) <= per_second else window + 1 - now

    async def set_unreachable(
        self, tenant: str, account: str, party: str, reason: str | None
    ) -> None:
        key = f"{tenant_prefix(tenant)}unr:{account}"
        if reason is None:
            await self._r.hdel(key, party)
        else:
            await self._r.hset(key, party, reason)

    async def unreachable(self, tenant: str, account: str, party: str) -> str | None:
        value = await self._r.hget(f"{tenant_prefix(tenant)}unr:{account}", party)
        return None if value is None else str(value)
