"""Bot accounts and per-conversation bot state in the store, shared by every process.

``sb:bot:{id}`` maps a bot account id to its tenant; ``P bot_acct:{id}`` holds the account
with its secrets; ``P bot_accts`` lists a tenant's ids; ``P bot_acctname:{name}`` keeps names
unique within a tenant. ``P bot:{sid}`` is the engine state of one conversation (Watson
context, Lex session state) as JSON, kept for a while after the last turn.
"""

from __future__ import annotations

import json
from typing import Any

import redis.asyncio as aioredis

from bots.accounts import BotAccount, dump_bot_account, load_bot_account
from router.errors import ConflictError
from router.store.base import tenant_prefix

# Dialog state outlives a pause in the conversation, not the conversation's history.
STATE_TTL_S = 24 * 3600


class BotStore:
    def __init__(self, client: aioredis.Redis) -> None:
        self._r = client

    async def get(self, account_id: str) -> BotAccount | None:
        tenant = await self._r.get("sb:bot:" + account_id)
        if tenant is None:
            return None
        raw = await self._r.get(f"{tenant_prefix(str(tenant))}bot_acct:{account_id}")
        return load_bot_account(raw) if raw else None

    async def get_in(self, tenant: str, account_id: str) -> BotAccount | None:
        account = await self.get(account_id)
        return account if account is not None and account.tenant == tenant else None

    async def list(self, tenant: str) -> list[BotAccount]:
        ids = sorted(str(i) for i in await self._r.smembers(tenant_prefix(tenant) + "bot_accts"))
        accounts = [await self.get_in(tenant, account_id) for account_id in ids]
        return [a for a in accounts if a is not None]

    async def put(self, account: BotAccount, *, create: bool) -> None:
        """Create (id and name must be free) or replace a bot account of its tenant."""
        p = tenant_prefix(account.tenant)
        owner = await self._r.get("sb:bot:" + account.id)
        if owner is not None and (create or str(owner) != account.tenant):
            raise ConflictError("duplicate_id", f"a bot account with id {account.id!r} exists")
        holder = await self._r.get(p + "bot_acctname:" + account.name)
        if holder is not None and str(holder) != account.id:
            raise ConflictError("duplicate_name", f"a bot account named {account.name!r} exists")
        previous = await self.get_in(account.tenant, account.id)
        async with self._r.pipeline(transaction=True) as pipe:
            if previous is not None and previous.name != account.name:
                pipe.delete(p + "bot_acctname:" + previous.name)
            pipe.set("sb:bot:" + account.id, account.tenant)
            pipe.set(p + "bot_acct:" + account.id, dump_bot_account(account))
            pipe.set(p + "bot_acctname:" + account.name, account.id)
            pipe.sadd(p + "bot_accts", account.id)
            await pipe.execute()

    async def delete(self, tenant: str, account_id: str) -> bool:
        account = await self.get_in(tenant, account_id)
        if account is None:
            return False
        p = tenant_prefix(tenant)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.delete("sb:bot:" + account_id, p + "bot_acct:" + account_id)
            pipe.delete(p + "bot_acctname:" + account.name)
            pipe.srem(p + "bot_accts", account_id)
            await pipe.execute()
        return True

    # -- per-conversation dialog state ----------------------------------------------------

    async def state(self, tenant: str, session_id: str) -> dict[str, Any] | None:
        raw = await self._r.get(f"{tenant_prefix(tenant)}bot:{session_id}")
        if not raw:
            return None
        value = json.loads(raw)
        return value if isinstance(value, dict) else None

    async def set_state(self, tenant: str, session_id: str, state: dict[str, Any] | None) -> None:
        key = f"{tenant_prefix(tenant)}bot:{session_id}"
        if state is None:
            await self._r.delete(key)
        else:
            await self._r.set(key, json.dumps(state, separators=(",", ":")), ex=STATE_TTL_S)
