"""Outbound CPaaS SMS: the adapter for a message on ``ChannelKind.SMS``.

``Message.account`` is our 10-digit number; its CPaaS platform (the number's own, or the
tenant's only platform when the number names none) gives the provider and credentials. The
adapter follows the MMS rule; attachments that cannot go as MMS become signed links to
``{public_url}/l/{token}``, valid for ``LINK_TTL``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from channels.cpaas import CpaasNumber, CpaasPlatform
from channels.errors import PermanentSendError, Unreachable
from channels.inteliquent import InteliquentAdapter, InteliquentClient
from channels.links import signed_link
from channels.registry import ChannelRegistry
from router.models import Message, utcnow
from router.settings import Settings
from router.store import RedisStore

LINK_TTL = timedelta(days=30)


async def platform_of(store: RedisStore, tenant: str, number: CpaasNumber) -> CpaasPlatform | None:
    """The platform a number uses: the one it names, else the tenant's only one."""
    if number.platform:
        return await store.cpaas.platform(tenant, number.platform)
    platforms = await store.cpaas.platforms(tenant)
    return platforms[0] if len(platforms) == 1 else None


async def numbers_on(store: RedisStore, platform: CpaasPlatform) -> list[CpaasNumber]:
    """The numbers of the platform's tenant that use it (see ``platform_of``)."""
    found = []
    for number in await store.cpaas.numbers(platform.tenant):
        used = await platform_of(store, platform.tenant, number)
        if used is not None and used.id == platform.id:
            found.append(number)
    return found


class SmsAdapters:
    def __init__(
        self,
        store: RedisStore,
        channels: ChannelRegistry,
        settings: Settings,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.channels = channels
        self.public_url = settings.public_url.rstrip("/")
        self.clock = clock
        self._secret: bytes | None = None

    def absolute(self, url: str) -> str:
        """A Switchboard-relative URL (``/media/…``) made reachable from outside."""
        return self.public_url + url if url.startswith("/") else url

    def link(self, secret: bytes, url: str) -> str:
        expires = self.clock() + LINK_TTL
        return self.public_url + signed_link(secret, self.absolute(url), expires)

    async def adapter(self, message: Message) -> InteliquentAdapter:
        number = await self.store.cpaas.number(message.tenant, message.account)
        if number is None:
            raise PermanentSendError(f"CPaaS number {message.account!r} is gone")
        platform = await platform_of(self.store, message.tenant, number)
        if platform is None:
            raise PermanentSendError(f"CPaaS number {number.number} has no CPaaS platform")
        reason = await self.store.deliveries.unreachable(
            message.tenant, message.account, message.remote_party.id
        )
        if reason is not None:
            raise Unreachable(f"contact unreachable on this number: {reason}")
        if self._secret is None:
            self._secret = await self.store.shared_secret()
        secret = self._secret
        return InteliquentAdapter(
            InteliquentClient(platform, self.channels.session),
            platform,
            number,
            absolute=self.absolute,
            link=lambda url: self.link(secret, url),
        )
