"""SMS contact state per (channel, account, remote party): consent (opt-out) and blocking,
plus the consent ledger.

Keys (P = tenant prefix):

- ``P sms:{channel}:{account}`` hash: ``o:{party}`` -> the ledger entry that opted the party
  out (present while opted out), ``b:{party}`` -> the block record. One ``HMGET`` tells a
  send everything it needs.
- ``P cl`` / ``P cl:{channel}:{account}`` / ``P cl:{channel}:{account}:{party}`` /
  ``P clp:{party key}``: the consent ledger (JSON entries, newest first) of the tenant, of
  one of our numbers, of one pair, of one remote party.
- ``P blk`` hash ``{channel}|{account}|{party}`` -> block record (the admin's list).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from router.errors import StoreError
from router.models import ChannelKind, Frozen
from router.store.base import script_source, tenant_prefix

_DIGITS = re.compile(r"\D")


def party_key(party: str) -> str:
    """The ledger's index form of a phone number: digits, with the NANP 1 (any SMS channel)."""
    digits = _DIGITS.sub("", party)
    if not digits:
        return party
    return "1" + digits if len(digits) == 10 else digits


class ConsentChange(Frozen):
    """One ledger entry: a pair opted out (``direction="out"``) or back in (``"in"``)."""

    id: str
    tenant: str
    channel: ChannelKind
    account: str  # our number (CPaaS) or integration account (Vonage)
    party: str  # the customer's number as the channel names it
    direction: Literal["out", "in"]
    keyword: str | None = None  # STOP, START... (None when an admin made the change)
    source: Literal["keyword", "admin"]
    provider_message_id: str | None = None
    session_id: str | None = None
    actor: str | None = None  # the admin (source "admin")
    note: str | None = None
    at: datetime


class BlockRecord(Frozen):
    tenant: str
    channel: ChannelKind
    account: str
    party: str
    blocked_by: str  # agent id
    session_id: str | None = None
    at: datetime


class PairState(Frozen):
    """What a send to the pair must respect."""

    opted_out: ConsentChange | None = None
    blocked: BlockRecord | None = None

    @classmethod
    def parse(cls, out: str | bytes | None, block: str | bytes | None) -> PairState:
        """The state from the pair's two fields (``o:`` and ``b:``) as stored."""
        return cls(
            opted_out=ConsentChange.model_validate_json(out) if out else None,
            blocked=BlockRecord.model_validate_json(block) if block else None,
        )


def pair_key(tenant: str, channel: ChannelKind, account: str) -> str:
    """The hash of opt-outs and blocks of every party of (channel, account)."""
    return f"{tenant_prefix(tenant)}sms:{channel.value}:{account}"


def pair_fields(party: str) -> list[str]:
    """The fields of ``party`` in its ``pair_key`` hash: opt-out, then block."""
    return ["o:" + party, "b:" + party]


class ConsentStore:
    def __init__(self, client: aioredis.Redis) -> None:
        self._r = client
        self._change = client.register_script(script_source("consent_change"))

    @staticmethod
    def _key(tenant: str, channel: ChannelKind, account: str) -> str:
        return pair_key(tenant, channel, account)

    async def pair_state(
        self, tenant: str, channel: ChannelKind, account: str, party: str
    ) -> PairState:
        """Opt-out and block of one pair, in one read."""
        out, block = await self._r.hmget(pair_key(tenant, channel, account), pair_fields(party))
        return PairState.parse(out, block)

    # -- consent ------------------------------------------------------------------------

    async def record(self, change: ConsentChange) -> bool:
        """Apply an opt-out / opt-in; False (and no ledger entry) if it changes nothing."""
        try:
            changed = await self._change(
                args=[
                    tenant_prefix(change.tenant), change.channel.value, change.account,
                    change.party, party_key(change.party), change.direction,
                    change.model_dump_json(),
                ]
            )  # fmt: skip
        except RedisError as exc:
            raise StoreError(f"cannot record consent: {exc}") from exc
        return int(changed) == 1

    async def ledger(
        self, tenant: str, *, channel: ChannelKind | None = None, account: str | None = None,
        party: str | None = None, limit: int = 50, offset: int = 0,
    ) -> tuple[list[ConsentChange], int]:  # fmt: skip
        """Ledger entries, newest first, of the tenant / a number / a pair / a party."""
        p = tenant_prefix(tenant)
        if channel is not None and account is not None:
            key = f"{p}cl:{channel.value}:{account}" + (f":{party}" if party else "")
        elif party:
            key = f"{p}clp:{party_key(party)}"
        else:
            key = p + "cl"
        async with self._r.pipeline(transaction=False) as pipe:
            pipe.lrange(key, offset, offset + limit - 1)
            pipe.llen(key)
            raw, total = await pipe.execute()
        return [ConsentChange.model_validate_json(r) for r in raw], int(total)

    async def last_change(
        self, tenant: str, channel: ChannelKind, account: str, party: str
    ) -> ConsentChange | None:
        raw = await self._r.lindex(
            f"{tenant_prefix(tenant)}cl:{channel.value}:{account}:{party}", 0
        )
        return ConsentChange.model_validate_json(raw) if raw else None

    # -- blocking -----------------------------------------------------------------------

    async def is_blocked(self, tenant: str, channel: ChannelKind, account: str, party: str) -> bool:
        return bool(await self._r.hexists(self._key(tenant, channel, account), "b:" + party))

    async def block(self, record: BlockRecord) -> bool:
        """Block the pair; False if it already was."""
        raw = record.model_dump_json()
        member = f"{record.channel.value}|{record.account}|{record.party}"
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hsetnx(self._key(record.tenant, record.channel, record.account),
                        "b:" + record.party, raw)  # fmt: skip
            pipe.hsetnx(tenant_prefix(record.tenant) + "blk", member, raw)
            added, _ = await pipe.execute()
        return bool(added)

    async def unblock(self, tenant: str, channel: ChannelKind, account: str, party: str) -> bool:
        member = f"{channel.value}|{account}|{party}"
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hdel(self._key(tenant, channel, account), "b:" + party)
            pipe.hdel(tenant_prefix(tenant) + "blk", member)
            removed, _ = await pipe.execute()
        return bool(removed)

    async def blocks(self, tenant: str) -> list[BlockRecord]:
        raw = await self._r.hgetall(tenant_prefix(tenant) + "blk")
        records = [BlockRecord.model_validate_json(v) for v in raw.values()]
        return sorted(records, key=lambda r: r.at, reverse=True)
