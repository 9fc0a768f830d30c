"""Apply the configuration to the store at start-up, idempotently.

Every process applies the same file; applying it twice changes nothing. Live data (agent
state and load, sessions) is never touched. Passwords are stored only as scrypt hashes, and
an unchanged password is not re-hashed.
"""

from __future__ import annotations

from router.config import Config
from router.errors import ConfigError, ConflictError
from router.numbers import apply_numbers
from router.passwords import hash_password, verify_password
from router.replies import check_template
from router.store import RedisStore
from router.store.base import Credential


def check_config(config: Config) -> None:
    """Checks that need more than field validation (templates compile)."""
    for t in config.tenants:
        for i, stream in enumerate(t.media_streams):
            if stream.initial_reply:
                check_template(
                    stream.initial_reply, f"tenants[{t.id}].media_streams[{i}].initial_reply"
                )
            if stream.after_hours_reply:
                check_template(
                    stream.after_hours_reply,
                    f"tenants[{t.id}].media_streams[{i}].after_hours_reply",
                )


async def _credential(
    store: RedisStore, tenant: str, username: str, cred: Credential, secret: str | None
) -> None:
    existing = await store.get_credential(tenant, username)
    unchanged = (
        secret is not None
        and existing is not None
        and (existing.subject, existing.role, existing.kind) == (cred.subject, cred.role, cred.kind)
        and existing.privileges == cred.privileges
        and verify_password(secret, existing.secret_hash)
    )
    if unchanged:
        return
    await store.put_credential(tenant, username, cred)


async def apply_config(store: RedisStore, config: Config) -> None:
    check_config(config)
    for tenant in config.tenants:
        for agent in tenant.agents:
            await store.provision_agent(
                tenant.id,
                agent.id,
                name=agent.name or agent.username,
                capacity=agent.capacity,
                queues=agent.queues,
                skills=agent.skills,
                role=agent.role,
            )
            secret = agent.password.get_secret_value() if agent.password else None
            encoded = agent.password_hash or hash_password(secret or "")
            cred = Credential(subject=agent.id, secret_hash=encoded, role=agent.role, kind="agent")
            await _credential(store, tenant.id, agent.username, cred, secret)
        for user in tenant.api_users:
            secret = user.client_secret.get_secret_value()
            cred = Credential(
                subject=user.client_id, secret_hash=hash_password(secret), role="api", kind="api",
                privileges=user.privileges,
            )  # fmt: skip
            await _credential(store, tenant.id, user.client_id, cred, secret)
        for queue in tenant.queues:
            members = [a.id for a in tenant.agents if queue.id in a.queues]
            await store.set_queue_agents(tenant.id, queue.id, members)
        for account in tenant.integration_accounts:
            try:
                await store.accounts.put(
                    account.model_copy(update={"tenant": tenant.id}), create=False
                )
            except ConflictError as exc:
                raise ConfigError(
                    f"tenants[{tenant.id}].integration_accounts[{account.id}]: {exc.message}"
                ) from None
        for bot in tenant.bot_accounts:
            try:
                await store.bots.put(bot.model_copy(update={"tenant": tenant.id}), create=False)
            except ConflictError as exc:
                raise ConfigError(
                    f"tenants[{tenant.id}].bot_accounts[{bot.id}]: {exc.message}"
                ) from None
        # CPaaS platforms from the file are saved without a provider check (start-up must not
        # depend on the provider); the file wins over API changes to the same ids.
        for recipient in tenant.alert_recipients:
            owned = recipient.model_copy(update={"tenant": tenant.id})
            await store.cpaas.put_alert_recipient(owned)
        for platform in tenant.cpaas_platforms:
            await store.cpaas.put_platform(platform.model_copy(update={"tenant": tenant.id}))
        await apply_numbers(store, tenant)
