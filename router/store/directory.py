"""The tenant directory in the store: tenants, their queues, not-ready reasons and users.

The configuration file seeds it (``router.directory``) and the REST API edits it; every
process builds its effective configuration from it. Secrets are not here: a user's password
or client secret lives only as a scrypt hash in its credential (``P cred:{username}``).

====================  ======================================================
``sb:dir:tenants``    tenant id -> ``TenantRecord`` JSON
``sb:dir:ver``        version, raised by every change
``sb:dir:changed``    pub/sub channel: "the directory changed" (payload: version)
``sb:dir:seed``       fingerprint of each item as the configuration file last gave it
``P dir:queues``      queue id -> ``QueueRecord`` JSON
``P dir:users``       username -> ``UserRecord`` JSON
====================  ======================================================
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal

import redis.asyncio as aioredis

from router.models import Frozen
from router.store.base import tenant_prefix
from router.store.follower import Follower

TENANTS = "sb:dir:tenants"
VERSION = "sb:dir:ver"
CHANNEL = "sb:dir:changed"
SEED = "sb:dir:seed"

UserRole = Literal["agent", "supervisor", "tenant_admin", "api"]


class TenantRecord(Frozen):
    id: str
    name: str = ""
    time_zone: str = "UTC"
    not_ready_reasons: tuple[str, ...] = ()


class QueueRecord(Frozen):
    id: str
    name: str = ""
    offer_timeout_seconds: float = 30.0


class UserRecord(Frozen):
    """A person (agent, supervisor, tenant admin) or an API client of one tenant."""

    username: str  # login name; an API user's client id
    id: str  # agent id; an API user's client id
    role: UserRole
    name: str = ""
    privileges: tuple[str, ...] = ()
    # Agents, supervisors and tenant admins only.
    capacity: int = 1
    skills: tuple[str, ...] = ()
    queues: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return "api" if self.role == "api" else "agent"


def _queues_key(tenant: str) -> str:
    return tenant_prefix(tenant) + "dir:queues"


def _users_key(tenant: str) -> str:
    return tenant_prefix(tenant) + "dir:users"


class DirectoryStore:
    def __init__(self, client: aioredis.Redis) -> None:
        self._r = client

    # -- tenants ------------------------------------------------------------------------

    async def tenants(self) -> dict[str, TenantRecord]:
        raw = await self._r.hgetall(TENANTS)
        return {str(k): TenantRecord.model_validate_json(v) for k, v in raw.items()}

    async def tenant(self, tenant: str) -> TenantRecord | None:
        raw = await self._r.hget(TENANTS, tenant)
        return TenantRecord.model_validate_json(raw) if raw else None

    async def put_tenant(self, record: TenantRecord) -> None:
        await self._r.hset(TENANTS, record.id, record.model_dump_json())

    async def delete_tenant(self, tenant: str) -> None:
        """Forget the tenant with its queues and users (the caller removes credentials)."""
        async with self._r.pipeline(transaction=True) as pipe:
            pipe.hdel(TENANTS, tenant)
            pipe.delete(_queues_key(tenant), _users_key(tenant))
            await pipe.execute()

    # -- queues -------------------------------------------------------------------------

    async def queues(self, tenant: str) -> dict[str, QueueRecord]:
        raw = await self._r.hgetall(_queues_key(tenant))
        return {str(k): QueueRecord.model_validate_json(v) for k, v in raw.items()}

    async def put_queue(self, tenant: str, record: QueueRecord) -> None:
        await self._r.hset(_queues_key(tenant), record.id, record.model_dump_json())

    async def delete_queue(self, tenant: str, queue: str) -> None:
        await self._r.hdel(_queues_key(tenant), queue)

    # -- users --------------------------------------------------------------------------

    async def users(self, tenant: str) -> dict[str, UserRecord]:
        raw = await self._r.hgetall(_users_key(tenant))
        return {str(k): UserRecord.model_validate_json(v) for k, v in raw.items()}

    async def user(self, tenant: str, username: str) -> UserRecord | None:
        raw = await self._r.hget(_users_key(tenant), username)
        return UserRecord.model_validate_json(raw) if raw else None

    async def put_user(self, tenant: str, record: UserRecord) -> None:
        await self._r.hset(_users_key(tenant), record.username, record.model_dump_json())

    async def delete_user(self, tenant: str, username: str) -> None:
        await self._r.hdel(_users_key(tenant), username)

    # -- seed fingerprints ----------------------------------------------------------------

    async def seed(self, item: str) -> str | None:
        raw = await self._r.hget(SEED, item)
        return str(raw) if raw is not None else None

    async def put_seed(self, item: str, fingerprint: str) -> None:
        await self._r.hset(SEED, item, fingerprint)

    # -- change notification --------------------------------------------------------------

    async def version(self) -> int:
        return int(await self._r.get(VERSION) or 0)

    async def changed(self) -> int:
        """Raise the version and tell every process; answers the new version."""
        version = int(await self._r.incr(VERSION))
        await self._r.publish(CHANNEL, str(version))
        return version

    def follower(self, check: Callable[[], Awaitable[object]]) -> Follower:
        """Runs ``check`` on every announced change and every tick once started."""
        return Follower(self._r, CHANNEL, check)
