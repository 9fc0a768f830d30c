"""CPaaS platforms, numbers and alert recipients in the store.

Numbers are global (a phone number belongs to one tenant): ``sb:num:{number}`` -> tenant.
Per tenant: ``P cpaas:{id}``, ``P nums`` / ``P num:{number}``, ``P alert:{id}`` (JSON), with a
set of ids for each kind. ``P nums:v`` counts the changes to the tenant's numbers: a
transaction that must not race one (deleting a media stream a number could be pointed at)
watches it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import redis.asyncio as aioredis
from pydantic import SecretStr
from redis.asyncio.lock import Lock

from channels.cpaas import AlertRecipient, CpaasNumber, CpaasPlatform
from router.store.base import tenant_prefix


def _with_secrets(model: CpaasPlatform) -> str:
    """JSON including secret values (the store is the one place they are kept)."""
    data = model.model_dump(mode="json")
    for name in model.SECRETS:
        data[name] = getattr(model, name).get_secret_value()
    verification = model.inbound_verification
    data["inbound_verification"] = {
        key: value.get_secret_value() if isinstance(value, SecretStr) else value
        for key, value in dict(verification).items()
    }
    return json.dumps(data, separators=(",", ":"))


def numbers_version_key(tenant: str) -> str:
    """The change counter of the tenant's numbers (every write of one increments it)."""
    return tenant_prefix(tenant) + "nums:v"


class CpaasStore:
    def __init__(self, client: aioredis.Redis) -> None:
        self._r = client

    # -- platforms ------------------------------------------------------------------------

    async def put_platform(self, platform: CpaasPlatform) -> None:
        p = tenant_prefix(platform.tenant)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.set(p + "cpaas:" + platform.id, _with_secrets(platform))
            pipe.sadd(p + "cpaas", platform.id)
            await pipe.execute()

    async def platform(self, tenant: str, platform_id: str) -> CpaasPlatform | None:
        raw = await self._r.get(tenant_prefix(tenant) + "cpaas:" + platform_id)
        return CpaasPlatform.model_validate_json(raw) if raw else None

    async def platforms(self, tenant: str) -> list[CpaasPlatform]:
        ids = sorted(str(i) for i in await self._r.smembers(tenant_prefix(tenant) + "cpaas"))
        found = [await self.platform(tenant, i) for i in ids]
        return [f for f in found if f is not None]

    async def delete_platform(self, tenant: str, platform_id: str) -> bool:
        p = tenant_prefix(tenant)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.delete(p + "cpaas:" + platform_id)
            pipe.srem(p + "cpaas", platform_id)
            removed, _ = await pipe.execute()
        return bool(removed)

    async def platform_tenant(self, platform_id: str, tenants: Sequence[str]) -> str | None:
        """The tenant owning ``platform_id`` (webhook URLs carry only the platform id)."""
        for tenant in tenants:
            if await self._r.sismember(tenant_prefix(tenant) + "cpaas", platform_id):
                return tenant
        return None

    # -- numbers --------------------------------------------------------------------------

    async def claim_number(self, tenant: str, number: str) -> bool:
        """Reserve a phone number for a tenant; False when another tenant holds it."""
        await self._r.set("sb:num:" + number, tenant, nx=True)
        return str(await self._r.get("sb:num:" + number)) == tenant

    async def number_tenant(self, number: str) -> str | None:
        value = await self._r.get("sb:num:" + number)
        return None if value is None else str(value)

    async def put_number(self, number: CpaasNumber) -> None:
        p = tenant_prefix(number.tenant)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.set("sb:num:" + number.number, number.tenant)
            pipe.set(p + "num:" + number.number, number.model_dump_json())
            pipe.sadd(p + "nums", number.number)
            pipe.incr(numbers_version_key(number.tenant))
            await pipe.execute()

    async def number(self, tenant: str, number: str) -> CpaasNumber | None:
        raw = await self._r.get(tenant_prefix(tenant) + "num:" + number)
        return CpaasNumber.model_validate_json(raw) if raw else None

    async def numbers(self, tenant: str) -> list[CpaasNumber]:
        ids = sorted(str(i) for i in await self._r.smembers(tenant_prefix(tenant) + "nums"))
        found = [await self.number(tenant, i) for i in ids]
        return [f for f in found if f is not None]

    async def delete_number(self, tenant: str, number: str) -> bool:
        p = tenant_prefix(tenant)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.delete(p + "num:" + number)
            pipe.srem(p + "nums", number)
            pipe.delete("sb:num:" + number)
            pipe.incr(numbers_version_key(tenant))
            removed, *_ = await pipe.execute()
        return bool(removed)

    # -- alert recipients -----------------------------------------------------------------

    async def put_alert_recipient(self, recipient: AlertRecipient) -> None:
        p = tenant_prefix(recipient.tenant)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.set(p + "alert:" + recipient.id, recipient.model_dump_json())
            pipe.sadd(p + "alerts", recipient.id)
            await pipe.execute()

    async def alert_recipients(self, tenant: str) -> list[AlertRecipient]:
        p = tenant_prefix(tenant)
        ids = sorted(str(i) for i in await self._r.smembers(p + "alerts"))
        raws = [await self._r.get(p + "alert:" + i) for i in ids]
        return [AlertRecipient.model_validate_json(r) for r in raws if r]

    async def alerting(self, tenant: str) -> list[AlertRecipient]:
        """The tenant's alert recipients that receive alerts (``send_alerts``)."""
        return [r for r in await self.alert_recipients(tenant) if r.send_alerts]

    async def last_alerting(self, tenant: str, recipient_id: str) -> bool:
        """Whether losing ``recipient_id`` would leave a tenant with platforms unalerted."""
        others = [r for r in await self.alerting(tenant) if r.id != recipient_id]
        return not others and bool(await self.platforms(tenant))

    async def delete_alert_recipient(self, tenant: str, recipient_id: str) -> bool:
        p = tenant_prefix(tenant)
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.delete(p + "alert:" + recipient_id)
            pipe.srem(p + "alerts", recipient_id)
            removed, _ = await pipe.execute()
        return bool(removed)

    def lock(self, tenant: str) -> Lock:
        """Serializes a tenant's platform / alert-recipient changes across processes
        (``P cpaaslock``): the alert rules are checked and applied under it."""
        return self._r.lock(tenant_prefix(tenant) + "cpaaslock", timeout=30, blocking_timeout=10)
