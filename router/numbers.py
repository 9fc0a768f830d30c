"""CPaaS numbers of a tenant: provisioning on the provider, changes, deletion with messages.

Creating a number first checks that it exists on the platform's CPaaS account (else nothing
is saved), saves it ``pending``, then registers its inbound webhook on the provider in the
background (``active`` with the provider's auth id, or ``failed`` with the reason).
Deleting it removes that webhook, the number and every stored message on it. Numbers from
the config file are applied at start-up without provider calls (``active``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from channels.cpaas import (
    CpaasNumber,
    CpaasPlatform,
    NumberTarget,
    OptIn,
    OptInState,
    ProvisioningState,
    StreamTarget,
    UserTarget,
)
from channels.errors import ChannelError, ProviderUnavailable, RateLimited
from channels.registry import ChannelRegistry
from router.config import NumberConfig, TenantConfig
from router.conversations import Conversations
from router.errors import ConfigError, ConflictError, NotFoundError, RouterError
from router.models import ChannelKind
from router.personal_inbox import PersonalInbox, delivers
from router.store import RedisStore
from router.store.optimistic import Requirement

log = logging.getLogger(__name__)

NOT_ON_ACCOUNT = (
    "This number is not assigned to this Inteliquent account, please check the number and "
    "try again or check with the Inteliquent customer portal for more information"
)
EDITABLE = ("friendly_name", "messaging_type", "can_block", "mms_available", "target")


class NumberProvider(Protocol):
    """The provider calls a number needs (``channels.inteliquent.InteliquentClient``)."""

    async def number_exists(self, number: str) -> bool: ...

    async def register_webhook(self, number: str, url: str) -> str: ...

    async def remove_webhook(self, auth_id: str) -> None: ...


ProviderFactory = Callable[[CpaasPlatform], NumberProvider]


class NotOnAccount(RouterError):
    """The number does not exist on the platform's CPaaS account."""


def initial_opt_in(number: CpaasNumber, platform: CpaasPlatform) -> OptIn:
    """``pending`` for a user's number on a platform requiring confirmation."""
    if isinstance(number.target, UserTarget) and platform.user_confirmation_required:
        return OptIn(state=OptInState.PENDING)
    return OptIn(state=OptInState.NOT_REQUIRED)


def webhook_path(platform_id: str) -> str:
    return f"/webhooks/inteliquent/{platform_id}"


class NumberService:
    def __init__(
        self,
        store: RedisStore,
        conversations: Conversations,
        inbox: PersonalInbox,
        provider: ProviderFactory,
    ) -> None:
        self.store = store
        self.conversations = conversations
        self.inbox = inbox
        self.provider = provider
        # In-flight webhook registrations, by (tenant, number).
        self.tasks: dict[tuple[str, str], asyncio.Task[None]] = {}

    async def close(self) -> None:
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.tasks.clear()

    async def settled(self, tenant: str, number: str) -> None:
        """Wait until the number's webhook registration (if any is running) has finished."""
        task = self.tasks.get((tenant, number))
        if task is not None:
            await asyncio.shield(task)

    # -- create ---------------------------------------------------------------------------

    async def create(
        self, number: CpaasNumber, platform: CpaasPlatform, webhook_base: str
    ) -> CpaasNumber:
        """Check the number on the CPaaS account, save it pending, register its webhook.

        Raises ``ConflictError`` (in use), ``NotOnAccount`` or ``ChannelError`` (provider).
        """
        if await self.store.cpaas.number_tenant(number.number) is not None:
            raise ConflictError("number_in_use", f"the number {number.number} is already in use")
        if not await self.provider(platform).number_exists(number.number):
            raise NotOnAccount(NOT_ON_ACCOUNT)
        number = number.model_copy(
            update={
                "provisioning": ProvisioningState.PENDING,
                "provisioning_error": None,
                "webhook_auth_id": None,
                "opt_in": initial_opt_in(number, platform),
            }
        )
        requires = self._stream_kept(number)
        if not await self.store.inbox.create_number(number, requires=requires):
            raise ConflictError("number_in_use", f"the number {number.number} is already in use")
        self.start_provisioning(number, webhook_base.rstrip("/") + webhook_path(platform.id))
        await self.inbox.prompt(number)
        return number

    def _stream_kept(self, number: CpaasNumber) -> Requirement | None:
        """For a number pointed at a media stream: saved only while the stream is not
        deleted (``ConflictError`` ``stream_deleted``), checked in the save's transaction."""
        if not isinstance(number.target, StreamTarget):
            return None
        streams = self.conversations.streams.store
        return streams.not_deleted(number.tenant, number.target.stream)

    def start_provisioning(self, number: CpaasNumber, url: str) -> None:
        key = (number.tenant, number.number)
        task = asyncio.create_task(self._provision(number, url))
        self.tasks[key] = task

        def done(finished: asyncio.Task[None]) -> None:
            if self.tasks.get(key) is finished:
                del self.tasks[key]

        task.add_done_callback(done)

    async def _provision(self, number: CpaasNumber, url: str) -> None:
        tenant = number.tenant
        try:
            platform = await self.store.cpaas.platform(tenant, number.platform)
            if platform is None:
                raise ChannelError(f"the CPaaS platform {number.platform!r} no longer exists")
            auth_id = await self.provider(platform).register_webhook(number.number, url)
        except ChannelError as exc:
            await self._mark(number, ProvisioningState.FAILED, error=str(exc))
            log.warning("provisioning %s failed: %s", number.number, exc)
            return
        except Exception:
            log.exception("provisioning %s failed", number.number)
            await self._mark(number, ProvisioningState.FAILED, error="internal error")
            return
        after = await self._mark(number, ProvisioningState.ACTIVE, auth_id=auth_id)
        if after is None or after.webhook_auth_id != auth_id:
            # Deleted (or changed platform) meanwhile: leave no webhook behind.
            try:
                await self.provider(platform).remove_webhook(auth_id)
            except ChannelError:
                log.warning("could not remove webhook %s of deleted %s", auth_id, number.number)

    async def _mark(
        self, number: CpaasNumber, state: ProvisioningState, *, error: str | None = None,
        auth_id: str | None = None,
    ) -> CpaasNumber | None:  # fmt: skip
        def change(current: CpaasNumber) -> CpaasNumber | None:
            stale = current.provisioning is not ProvisioningState.PENDING
            if stale or current.platform != number.platform:
                return None
            return current.model_copy(
                update={"provisioning": state, "provisioning_error": error,
                        "webhook_auth_id": auth_id}
            )  # fmt: skip

        found = await self.store.inbox.update_number(number.tenant, number.number, change)
        return None if found is None else found[1]

    # -- update ---------------------------------------------------------------------------

    async def update(
        self, current: CpaasNumber, edited: CpaasNumber, platform: CpaasPlatform | None, *,
        expected: CpaasNumber | None = None,
    ) -> CpaasNumber:  # fmt: skip
        """Apply the admin-editable fields of ``edited``; a new user is asked to opt in.

        With ``expected`` (the number as read), applied only while the stored number still
        equals it, compared and written in one store transaction: else ``StaleObject`` and
        nothing changes.
        """
        retarget = edited.target != current.target

        def change(stored: CpaasNumber) -> CpaasNumber | None:
            update = {name: getattr(edited, name) for name in EDITABLE}
            if stored.target != edited.target:
                fresh = stored.model_copy(update=update)
                update["opt_in"] = (
                    initial_opt_in(fresh, platform)
                    if platform is not None
                    else OptIn(state=OptInState.NOT_REQUIRED)
                )
            return stored.model_copy(update=update)

        found = await self.store.inbox.update_number(
            current.tenant, current.number, change, expected=expected,
            requires=self._stream_kept(edited) if retarget else None,
        )  # fmt: skip
        if found is None:
            raise NotFoundError(f"no number {current.number!r}")
        before, after = found
        if retarget and isinstance(before.target, UserTarget):
            # The previous user stops answering from this number.
            await self.inbox.close_assigned(before, reason="reassigned")
        if retarget and isinstance(after.target, UserTarget):
            if delivers(after):
                await self.inbox.release_held(after)
            else:
                await self.inbox.prompt(after)
        return after

    # -- delete ---------------------------------------------------------------------------

    async def delete(self, tenant: str, number_id: str) -> bool:
        """Remove the provider webhook, the number and all its messages.

        A provider that cannot be reached now (``ProviderUnavailable``, ``RateLimited``)
        leaves everything in place; a refusal (the webhook is already gone, the platform's
        key was revoked) is logged and the number deleted anyway.
        """
        number = await self.store.cpaas.number(tenant, number_id)
        if number is None:
            return False
        platform = await self.store.cpaas.platform(tenant, number.platform)
        if number.webhook_auth_id and platform is not None:
            try:
                await self.provider(platform).remove_webhook(number.webhook_auth_id)
            except (ProviderUnavailable, RateLimited):
                raise
            except ChannelError as exc:
                log.warning("webhook of %s not removed at the provider: %s", number_id, exc)
        await self.store.cpaas.delete_number(tenant, number_id)
        await self.delete_messages(tenant, number_id)
        return True

    async def delete_messages(self, tenant: str, number_id: str) -> int:
        """Delete every stored conversation on the number (closing open ones first)."""
        deleted = 0
        for sid in await self.store.inbox.session_ids(tenant, number_id):
            outcome = "open"
            for _ in range(3):  # a message may reopen it between close and delete
                outcome = await self.store.inbox.delete_session(tenant, sid, number_id)
                if outcome != "open":
                    break
                await self._close(tenant, sid)
            deleted += outcome == "deleted"
        return deleted

    async def _close(self, tenant: str, session_id: str) -> None:
        try:
            await self.conversations.close(tenant, session_id, reason="deleted")
        except NotFoundError:  # its media stream is gone from the config
            await self.store.close_session(
                tenant, session_id, reason="deleted", reopen_window_seconds=0
            )


# -- config file ----------------------------------------------------------------------------


async def apply_numbers(store: RedisStore, tenant: TenantConfig) -> None:
    """Apply a tenant's configured numbers idempotently (no provider calls: ``active``).

    The opt-in state and webhook id of a number already stored are kept, unless its user
    changed (then the new user is asked, where the platform requires it).
    """
    if not tenant.numbers:
        return
    platforms = {p.id: p for p in await store.cpaas.platforms(tenant.id)}
    for i, configured in enumerate(tenant.numbers):
        where = f"tenants[{tenant.id}].numbers[{i}]"
        platform = _config_platform(configured, platforms, where)
        holder = await store.cpaas.number_tenant(configured.number)
        if holder is not None and holder != tenant.id:
            raise ConfigError(f"{where}.number: {configured.number} belongs to another tenant")
        number = CpaasNumber(
            **configured.model_dump(exclude={"platform"}),
            tenant=tenant.id,
            platform=platform.id,
            provisioning=ProvisioningState.ACTIVE,
        )
        stored = await store.cpaas.number(tenant.id, configured.number)
        if stored is not None and stored.target == number.target:
            number = number.model_copy(
                update={"opt_in": stored.opt_in, "webhook_auth_id": stored.webhook_auth_id}
            )
        else:
            number = number.model_copy(update={"opt_in": initial_opt_in(number, platform)})
        if number != stored:
            await store.cpaas.put_number(number)


def _config_platform(
    configured: NumberConfig, platforms: dict[str, CpaasPlatform], where: str
) -> CpaasPlatform:
    if configured.platform:
        found = platforms.get(configured.platform)
        if found is None:
            raise ConfigError(f"{where}.platform: unknown CPaaS platform {configured.platform!r}")
        return found
    if len(platforms) != 1:
        problem = "no CPaaS platform exists" if not platforms else "the tenant has several"
        raise ConfigError(f"{where}.platform: required ({problem})")
    return next(iter(platforms.values()))


def inteliquent_provider(channels: ChannelRegistry) -> ProviderFactory:
    """Provider calls through ``channels.inteliquent`` on the process' shared HTTP session."""

    def build(platform: CpaasPlatform) -> NumberProvider:
        from channels.inteliquent import InteliquentClient

        return InteliquentClient(platform, channels.session)

    return build


def target_problem(tenant: TenantConfig, target: NumberTarget) -> tuple[str, str] | None:
    """(message, field) when a number's target names nothing usable in the tenant."""
    if isinstance(target, UserTarget):
        if tenant.agent(target.agent) is None:
            return f"unknown user {target.agent!r}", "target.agent"
        return None
    stream = tenant.stream(target.stream)
    if stream is None:
        return f"unknown media stream {target.stream!r}", "target.stream"
    if stream.media is not ChannelKind.SMS:
        return (
            f"media stream {stream.id!r} is {stream.media.value}, not sms",
            "target.stream",
        )
    return None
