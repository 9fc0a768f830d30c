"""Integration accounts in the store, shared by every process.

``sb:acct:{id}`` maps an account id to its tenant (ids are global: webhook URLs carry only
the id); ``P acct:{id}`` holds the account with its secrets; ``P acctname:{name}`` keeps names
unique within a tenant.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from channels.accounts import IntegrationAccount, dump_account, load_account
from router.errors import ConflictError
from router.store.base import tenant_prefix


class AccountStore:
    def __init__(self, client: aioredis.Redis) -> None:
        self._r = client

    async def get(self, account_id: str) -> IntegrationAccount | None:
        tenant = await self._r.get("sb:acct:" + account_id)
        if tenant is None:
            return None
        raw = await self._r.get(f"{tenant_prefix(str(tenant))}acct:{account_id}")
        return load_account(raw) if raw else None

    async def get_in(self, tenant: str, account_id: str) -> IntegrationAccount | None:
        account = await self.get(account_id)
        return account if account is not None and account.tenant == tenant else None

    async def list(self, tenant: str) -> list[IntegrationAccount]:
        ids = sorted(str(i) for i in await self._r.smembers(tenant_prefix(tenant) + "accts"))
        accounts = [await self.get_in(tenant, account_id) for account_id in ids]
        return [a for a in accounts if a is not None]

    async def put(self, account: IntegrationAccount, *, create: bool) -> None:
        """Create (id and name must be free) or replace an account of its tenant."""
        p = tenant_prefix(account.tenant)
        owner = await self._r.get("sb:acct:" + account.id)
        if create and owner is not None:
            raise ConflictError("duplicate_id", f"an account with id {account.id!r} exists")
        if owner is not None and str(owner) != account.tenant:
            raise ConflictError("duplicate_id", f"an account with id {account.id!r} exists")
        holder = await self._r.get(p + "acctname:" + account.name)
        if holder is not None and str(holder) != account.id:
            raise ConflictError("duplicate_name", f"an account named {account.name!r} exists")
        previous = await self.get_in(account.tenant, account.id)
        async with self._r.pipeline(transaction=True) as pipe:
            if previous is not None and previous.name != account.name:
                pipe.delete(p + "acctname:" + previous.name)
            pipe.set("sb:acct:" + account.id, account.tenant)
            pipe.set(p + "acct:" + account.id, dump_account(account))
            pipe.set(p + "acctname:" + account.name, account.id)
            pipe.sadd(p + "accts", account.id)
            await pipe.execute()

    async def delete(self, tenant: str, account_id: str) -> bool:
        account = await self.get_in(tenant, account_id)
        if account is None:
            return False
        p = tenant_prefix(tenant)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.delete("sb:acct:" + account_id, p + "acct:" + account_id)
            pipe.delete(p + "acctname:" + account.name)
            pipe.srem(p + "accts", account_id)
            await pipe.execute()
        return True
