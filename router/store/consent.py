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

A pair's state as the API shows it (``snapshot``: opt-out, block and latest ledger entry) is
read in one transaction; a checked change (``record(expected=...)``) is made only while the
pair still is as read, compared and written in one transaction.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from router.errors import StoreError
from router.models import ChannelKind, Frozen
from router.store.base import script_source, tenant_prefix
from router.store.named import StaleObject
from router.store.optimistic import watched

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


class PairSnapshot(Frozen):
    """A pair's state and its latest ledger entry, as of one moment."""

    state: PairState
    last: ConsentChange | None = None


def pair_key(tenant: str, channel: ChannelKind, account: str) -> str:
    """The hash of opt-outs and blocks of every party of (channel, account)."""
    return f"{tenant_prefix(tenant)}sms:{channel.value}:{account}"


def pair_fields(party: str) -> list[str]:
    """The fields of ``party`` in its ``pair_key`` hash: opt-out, then block."""
    return ["o:" + party, "b:" + party]


def pair_ledger_key(tenant: str, channel: ChannelKind, account: str, party: str) -> str:
    """The ledger of one pair (newest first)."""
    return f"{tenant_prefix(tenant)}cl:{channel.value}:{account}:{party}"


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

    async def snapshot(
        self, tenant: str, channel: ChannelKind, account: str, party: str
    ) -> PairSnapshot:
        """Opt-out, block and latest ledger entry of one pair, read in one transaction."""
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hmget(pair_key(tenant, channel, account), pair_fields(party))
            pipe.lindex(pair_ledger_key(tenant, channel, account, party), 0)
            (out, block), last = await pipe.execute()
        return _snapshot(out, block, last)

    # -- consent ------------------------------------------------------------------------

    async def record(self, change: ConsentChange, *, expected: PairSnapshot | None = None) -> bool:
        """Apply an opt-out / opt-in; False (and no ledger entry) if it changes nothing.

        With ``expected``, applied only while the pair's ``snapshot`` still equals it
        (compared and written in one transaction): else ``StaleObject``.
        """
        args = [
            tenant_prefix(change.tenant), change.channel.value, change.account, change.party,
            party_key(change.party), change.direction, change.model_dump_json(),
        ]  # fmt: skip
        try:
            if expected is None:
                changed = await self._change(args=args)
            else:
                changed = await self._checked_change(change, args, expected)
        except RedisError as exc:
            raise StoreError(f"cannot record consent: {exc}") from exc
        return int(changed) == 1

    async def _checked_change(
        self, change: ConsentChange, args: list[str], expected: PairSnapshot
    ) -> object:
        """The consent script, run only while the pair's snapshot equals ``expected``."""
        key = pair_key(change.tenant, change.channel, change.account)
        ledger = pair_ledger_key(change.tenant, change.channel, change.account, change.party)

        async def attempt(pipe: Pipeline) -> object:
            out, block = await pipe.hmget(key, pair_fields(change.party))
            if _snapshot(out, block, await pipe.lindex(ledger, 0)) != expected:
                raise StaleObject("the consent state changed since it was read")
            pipe.multi()  # type: ignore[no-untyped-call]
            await self._change(args=args, client=pipe)
            (changed,) = await pipe.execute()
            return changed

        return await watched(self._r, [key, ledger], attempt)

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


def _snapshot(
    out: str | bytes | None, block: str | bytes | None, last: str | bytes | None
) -> PairSnapshot:
    return PairSnapshot(
        state=PairState.parse(out, block),
        last=ConsentChange.model_validate_json(last) if last else None,
    )
