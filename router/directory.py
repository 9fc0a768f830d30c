"""The tenant directory: tenants, queues, not-ready reasons and users, shared by every process.

The configuration file seeds the directory (``seed_directory``, called by
``router.provisioning.apply_config``) and the REST API edits it. An item from the file is
written when the file gives it for the first time or gives it *differently* than last time
(each item's fingerprint is kept); an item the file gives unchanged is left alone, so an
edit or deletion made through the API survives restarts until the file itself changes that
item. Passwords from the file are compared with the hash kept at the last seeding, never
stored in clear.

Every process builds its effective configuration from the file (media streams, accounts,
numbers...) and the directory (tenant name, time zone, not-ready reasons, queues, agents):
``Directory.load``. A change raises the directory's version and is announced on a pub/sub
channel; each process reloads then (and checks the version every ``POLL_SECONDS`` in case
a message was lost), so a queue or tenant created through any process is routed by all.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from router.config import AgentConfig, Config, QueueConfig, TenantConfig
from router.passwords import hash_password, verify_password
from router.store import RedisStore
from router.store.base import Credential
from router.store.directory import DirectoryStore, QueueRecord, TenantRecord, UserRecord

POLL_SECONDS = 5.0


def _fingerprint(record: TenantRecord | QueueRecord | UserRecord) -> str:
    raw = json.dumps(record.model_dump(mode="json"), sort_keys=True).encode()
    return hashlib.sha256(raw).hexdigest()


def tenant_record(tenant: TenantConfig) -> TenantRecord:
    return TenantRecord(
        id=tenant.id,
        name=tenant.name,
        time_zone=tenant.time_zone,
        not_ready_reasons=tenant.not_ready_reasons,
    )


def agent_record(agent: AgentConfig) -> UserRecord:
    return UserRecord(
        username=agent.username,
        id=agent.id,
        role=agent.role,
        name=agent.name,
        capacity=agent.capacity,
        skills=agent.skills,
        queues=agent.queues,
    )


# -- applying users to the store -------------------------------------------------------------


async def provision_user(store: RedisStore, tenant: str, user: UserRecord) -> None:
    """The agent record of a person (static data only; live state and load are kept)."""
    if user.kind == "agent":
        await store.provision_agent(
            tenant,
            user.id,
            name=user.name or user.username,
            capacity=user.capacity,
            queues=user.queues,
            skills=user.skills,
            role=user.role,
        )


async def set_secret(store: RedisStore, tenant: str, user: UserRecord, encoded: str) -> None:
    """Store ``user``'s credential with the scrypt hash ``encoded``."""
    cred = Credential(
        subject=user.id,
        secret_hash=encoded,
        role=user.role,
        kind=user.kind,
        privileges=user.privileges,
    )
    await store.put_credential(tenant, user.username, cred)


async def refresh_credential(store: RedisStore, tenant: str, user: UserRecord) -> None:
    """Carry a changed role or privileges into the user's credential (the hash is kept)."""
    cred = await store.get_credential(tenant, user.username)
    if cred is not None:
        await set_secret(store, tenant, user, cred.secret_hash)


async def sync_members(store: RedisStore, tenant: str) -> None:
    """Queue membership (``P qa:{queue}``) from the users' queues."""
    directory = DirectoryStore(store.client)
    users = [u for u in (await directory.users(tenant)).values() if u.kind == "agent"]
    for queue in await directory.queues(tenant):
        await store.set_queue_agents(tenant, queue, [u.id for u in users if queue in u.queues])


# -- seeding from the configuration file -----------------------------------------------------


async def _seed_user(
    store: RedisStore, tenant: str, user: UserRecord, secret: str | None, encoded: str | None
) -> None:
    """Write ``user`` if the file changed it; its secret if the file changed that."""
    directory = DirectoryStore(store.client)
    item = f"u:{tenant}:{user.username}"
    raw = await directory.seed(item)
    previous: dict[str, Any] = json.loads(raw) if raw else {}
    fingerprint = _fingerprint(user)
    changed = previous.get("fp") != fingerprint
    if changed:
        await directory.put_user(tenant, user)
        await provision_user(store, tenant, user)
    mark = str(previous.get("secret", ""))
    if secret is not None and not (mark and verify_password(secret, mark)):
        mark = hash_password(secret)
        await set_secret(store, tenant, user, mark)
    elif encoded is not None and encoded != mark:
        mark = encoded
        await set_secret(store, tenant, user, mark)
    elif changed:
        await refresh_credential(store, tenant, user)
    await directory.put_seed(item, json.dumps({"fp": fingerprint, "secret": mark}))


async def seed_directory(store: RedisStore, config: Config) -> None:
    """Write what the file gives for the first time or differently than last time."""
    directory = DirectoryStore(store.client)
    for tenant in config.tenants:
        record = tenant_record(tenant)
        fingerprint = _fingerprint(record)
        if await directory.seed(f"t:{tenant.id}") != fingerprint:
            await directory.put_tenant(record)
            await directory.put_seed(f"t:{tenant.id}", fingerprint)
        if await directory.tenant(tenant.id) is None:
            continue  # deleted through the API, and the file did not change it since
        for queue in tenant.queues:
            qrec = QueueRecord(
                id=queue.id, name=queue.name, offer_timeout_seconds=queue.offer_timeout_seconds
            )
            fingerprint = _fingerprint(qrec)
            if await directory.seed(f"q:{tenant.id}:{queue.id}") != fingerprint:
                await directory.put_queue(tenant.id, qrec)
                await directory.put_seed(f"q:{tenant.id}:{queue.id}", fingerprint)
        for agent in tenant.agents:
            secret = agent.password.get_secret_value() if agent.password else None
            await _seed_user(store, tenant.id, agent_record(agent), secret, agent.password_hash)
        for api_user in tenant.api_users:
            user = UserRecord(
                username=api_user.client_id,
                id=api_user.client_id,
                role="api",
                name=api_user.name,
                privileges=api_user.privileges,
            )
            await _seed_user(
                store, tenant.id, user, api_user.client_secret.get_secret_value(), None
            )
        await sync_members(store, tenant.id)
    await directory.changed()


# -- the effective configuration -------------------------------------------------------------


def _agent(user: UserRecord, file_agent: AgentConfig | None) -> AgentConfig:
    fields: dict[str, Any] = {
        "id": user.id,
        "name": user.name,
        "username": user.username,
        "role": user.role,
        "capacity": user.capacity,
        "skills": user.skills,
        "queues": user.queues,
    }
    if file_agent is not None and file_agent.username == user.username:
        if agent_record(file_agent) == user:
            return file_agent
        return file_agent.model_copy(update=fields)
    # Created through the API: the credential is only in the store.
    return AgentConfig.model_construct(password=None, password_hash=None, **fields)


def _ordered(ids: list[str], file_order: list[str]) -> list[str]:
    known = [i for i in file_order if i in ids]
    return known + sorted(i for i in ids if i not in known)


async def build_config(store: RedisStore, file_config: Config) -> Config:
    """The file's configuration with the directory's tenants, queues and agents."""
    directory = DirectoryStore(store.client)
    records = await directory.tenants()
    tenants: list[TenantConfig] = []
    for tenant_id in _ordered(list(records), [t.id for t in file_config.tenants]):
        record = records[tenant_id]
        base = file_config.tenant(tenant_id) or TenantConfig(id=tenant_id)
        queues = await directory.queues(tenant_id)
        users = await directory.users(tenant_id)
        agents = {u.id: u for u in users.values() if u.kind == "agent"}
        tenants.append(
            base.model_copy(
                update={
                    "name": record.name,
                    "time_zone": record.time_zone,
                    "not_ready_reasons": record.not_ready_reasons,
                    "queues": tuple(
                        QueueConfig(
                            id=q.id, name=q.name, offer_timeout_seconds=q.offer_timeout_seconds
                        )
                        for q in (
                            queues[i] for i in _ordered(list(queues), [q.id for q in base.queues])
                        )
                    ),
                    "agents": tuple(
                        _agent(agents[i], base.agent(i))
                        for i in _ordered(list(agents), [a.id for a in base.agents])
                    ),
                }
            )
        )
    return file_config.model_copy(update={"tenants": tuple(tenants)})


Adopt = Callable[[Config], Awaitable[None]]


class Directory:
    """This process's view of the directory: loads it, and reloads it on every change."""

    def __init__(self, store: RedisStore, file_config: Config, adopt: Adopt) -> None:
        self.store = store
        self.file_config = file_config
        self.records = DirectoryStore(store.client)
        self.adopt = adopt
        self.version = -1
        self._reloaded = asyncio.Condition()
        self._lock = asyncio.Lock()
        self._follower = self.records.follower(self.refresh)

    async def load(self) -> Config:
        """Build the effective configuration and hand it to ``adopt``."""
        async with self._lock:
            version = await self.records.version()
            config = await build_config(self.store, self.file_config)
            self.version = version
            await self.adopt(config)
        async with self._reloaded:
            self._reloaded.notify_all()
        return config

    async def refresh(self) -> bool:
        """Reload if another process changed the directory; True if it did."""
        if await self.records.version() == self.version:
            return False
        await self.load()
        return True

    async def changed(self) -> Config:
        """After a change made here: tell every process, and reload at once."""
        await self.records.changed()
        return await self.load()

    async def wait_until(self, done: Callable[[], bool]) -> None:
        """Wait for a reload after which ``done()`` holds (callers bound it with a timeout)."""
        async with self._reloaded:
            await self._reloaded.wait_for(done)

    def start(self) -> None:
        self._follower.start(POLL_SECONDS)

    async def close(self) -> None:
        await self._follower.close()
