"""Apply the configuration to the store at start-up, idempotently.

Every process applies the same file; applying it twice changes nothing. Live data (agent
state and load, sessions) is never touched. Passwords are stored only as scrypt hashes, and
an unchanged password is not re-hashed. Tenants, queues, not-ready reasons and users go to
the shared directory (``router.directory``), where the file wins only for what it changed.
"""

from __future__ import annotations

import logging

from channels.cpaas import StreamTarget
from router.config import Config, TenantConfig
from router.directory import seed_directory
from router.errors import ConfigError, ConflictError
from router.numbers import apply_numbers
from router.replies import check_template
from router.store import RedisStore
from router.store.streams import StreamStore

log = logging.getLogger(__name__)


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


async def apply_config(store: RedisStore, config: Config) -> None:
    check_config(config)
    # Tenants, queues, not-ready reasons, agents and API users: the shared directory.
    await seed_directory(store, config)
    for tenant in config.tenants:
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
        # The file seeds media stream settings; an admin's edit is never overwritten by it,
        # nor an admin's deletion.
        streams = StreamStore(store.client)
        for stream in tenant.media_streams:
            await streams.seed(tenant.id, stream)
        await _warn_deleted_targets(streams, tenant)


async def _warn_deleted_targets(streams: StreamStore, tenant: TenantConfig) -> None:
    """Log the file's accounts and numbers that route to a stream an admin deleted: their
    messages are refused as for an unknown stream until it is created again."""
    targets = [(f"integration account {a.id!r}", a.stream) for a in tenant.integration_accounts]
    targets += [
        (f"number {n.number}", n.target.stream)
        for n in tenant.numbers
        if isinstance(n.target, StreamTarget)
    ]
    for what, stream_id in targets:
        record = await streams.record(tenant.id, stream_id)
        if record is not None and record.deleted:
            log.warning(
                "tenants[%s]: %s routes to media stream %r, which an admin deleted: its "
                "messages are refused until the stream is created again",
                tenant.id, what, stream_id,
            )  # fmt: skip
