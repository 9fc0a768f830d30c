"""What happened to outbound messages after they were filed: provider ids, delivery status,
and contacts that can no longer be reached on an account; and what a send reads before it
calls the provider, in one round trip.

``P pm:{account}:{provider id}`` -> ``{sid}|{seq}`` (status events name only the provider id);
``P st:{sid}`` hash seq -> ``{status}|{reason}``; ``P unr:{account}`` hash party -> reason;
``P rt:{account}:{party}`` -> the party's latest reply token, until it expires (LINE);
``sb:rl:{account}:{second}`` sends to an account in that second (``throttle``).
"""

from __future__ import annotations

import time
from datetime import datetime

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline

from router.models import ChannelKind, Frozen, MessageStatus
from router.store.base import SCHED_KEY, epoch_ms, now_ms, tenant_prefix
from router.store.consent import PairState, pair_fields, pair_key

PROVIDER_ID_TTL = 30 * 24 * 3600
# A status never moves backwards (a late "delivered" does not undo "read"); failed is final.
_RANK = {
    MessageStatus.QUEUED: 0,
    MessageStatus.SENT: 1,
    MessageStatus.DELIVERED: 2,
    MessageStatus.READ: 3,
    MessageStatus.FAILED: 4,
}


class SendClaim(Frozen):
    """A send in progress, claimed in Redis (``key`` set to ``token`` while it runs)."""

    key: str
    token: str
    seconds: int


class SendCheck(Frozen):
    """What ``DeliveryStore.check_send`` read, in the order a send looks at it."""

    claimed: bool = True  # the claim was taken (or none was asked for)
    status: tuple[MessageStatus, str | None] | None = None  # the message's status so far
    pair: PairState | None = None  # SMS: the pair's opt-out and block
    unreachable: str | None = None  # why the account cannot reach the party
    wait: float = 0.0  # how long the account's rate limit wants the send to wait
    reply_token: str | None = None  # the party's reply token, now taken (used once)


def _status(value: object) -> tuple[MessageStatus, str | None]:
    status, _, reason = str(value).partition("|")
    return MessageStatus(status), reason or None


def _count_send(pipe: Pipeline, account: str) -> float:
    """Queue counting one send in ``account``'s current one-second window on ``pipe`` (its
    count is the ``INCR``'s reply); the seconds until the next window."""
    now = time.time()
    window = int(now)
    key = f"sb:rl:{account}:{window}"
    pipe.incr(key)
    pipe.expire(key, 2)
    return window + 1 - now


def _reply_token_key(tenant: str, account: str, party: str) -> str:
    return f"{tenant_prefix(tenant)}rt:{account}:{party}"


class DeliveryStore:
    def __init__(self, client: aioredis.Redis) -> None:
        self._r = client

    async def keep_reply_token(
        self, tenant: str, account: str, party: str, token: str, expires_at: datetime
    ) -> bool:
        """Keep ``token`` as the party's latest reply token until ``expires_at`` (False: it
        has expired already, nothing kept). The next ``check_send`` asking for it takes it."""
        at_ms = epoch_ms(expires_at)
        if at_ms <= now_ms():
            return False
        await self._r.set(_reply_token_key(tenant, account, party), token, pxat=at_ms)
        return True

    async def record_sent(
        self, tenant: str, account: str, provider_ids: list[str], session_id: str, seq: int,
        *, release: str | None = None,
    ) -> None:  # fmt: skip
        """Note the provider's ids of a sent message and mark it sent, in one round trip;
        ``release``: a key to drop with it (the send claim), only once it is recorded."""
        p = tenant_prefix(tenant)
        async with self._r.pipeline(transaction=True) as pipe:
            for pmid in provider_ids:
                pipe.set(f"{p}pm:{account}:{pmid}", f"{session_id}|{seq}", ex=PROVIDER_ID_TTL)
            pipe.hsetnx(f"{p}st:{session_id}", str(seq), f"{MessageStatus.SENT.value}|")
            if release is not None:
                pipe.delete(release)
            replies = await pipe.execute()
        if not replies[len(provider_ids)]:
            # It has a status already (from a status event, or failed meanwhile).
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
        return {int(seq): _status(value) for seq, value in raw.items()}

    async def throttle(self, account: str, per_second: float) -> float:
        """A one-second window shared by every process: 0.0 when a send to ``account`` may go
        now, else how long to wait for the next window."""
        async with self._r.pipeline(transaction=True) as pipe:
            wait = _count_send(pipe, account)
            count, _ = await pipe.execute()
        return 0.0 if int(count) <= per_second else wait

    async def check_send(
        self, tenant: str, session_id: str, seq: int | None, *, claim: SendClaim | None,
        account: str, party: str, consent: ChannelKind | None = None,
        unreachable: bool = False, per_second: float | None = None, outbox: str | None = None,
        reply_token: bool = False,
    ) -> SendCheck:  # fmt: skip
        """Everything a send reads before the provider call, in one round trip: take the
        send ``claim`` (then read under it), the message's status, the pair's consent state
        (``consent``: its SMS channel), whether the account can reach the party, and a
        place in the account's rate-limit window (``per_second``; the place counts even
        when a check then stops the send, which only makes the limit stricter). Drops the
        message's ``outbox`` timer (``router.store.filing.send_timer``): a delivery has it.
        ``reply_token``: take the party's reply token (``keep_reply_token``), if any."""
        p = tenant_prefix(tenant)
        async with self._r.pipeline(transaction=True) as pipe:
            if claim is not None:
                pipe.set(claim.key, claim.token, nx=True, ex=claim.seconds)
            if seq is not None:
                pipe.hget(f"{p}st:{session_id}", str(seq))
            if consent is not None:
                pipe.hmget(pair_key(tenant, consent, account), pair_fields(party))
            if unreachable:
                pipe.hget(f"{p}unr:{account}", party)
            wait = 0.0
            if per_second is not None:
                wait = _count_send(pipe, account)
            if outbox is not None:
                pipe.zrem(SCHED_KEY, outbox)
            if reply_token:
                pipe.getdel(_reply_token_key(tenant, account, party))
            replies = iter(await pipe.execute())
        claimed = bool(next(replies)) if claim is not None else True
        status = next(replies) if seq is not None else None
        pair = PairState.parse(*next(replies)) if consent is not None else None
        reason = next(replies) if unreachable else None
        if per_second is not None:
            count, _ = next(replies), next(replies)  # INCR, EXPIRE
            if int(count) <= per_second:
                wait = 0.0
        if outbox is not None:
            next(replies)  # ZREM
        token = next(replies) if reply_token else None
        return SendCheck(
            claimed=claimed,
            status=_status(status) if status is not None else None,
            pair=pair,
            unreachable=None if reason is None else str(reason),
            wait=wait,
            reply_token=None if token is None else str(token),
        )

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
