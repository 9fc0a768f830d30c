"""Adapters by account type, built on demand and cached per account version.

Provider modules register their adapter class here; importing this module imports them
(one direction only: provider modules never import the registry).
"""

from __future__ import annotations

from collections.abc import Callable

import aiohttp

from channels.accounts import IntegrationAccount
from channels.base import WebhookAdapter

AdapterFactory = Callable[[IntegrationAccount, aiohttp.ClientSession], WebhookAdapter]
FACTORIES: dict[str, AdapterFactory] = {}


def _load_providers() -> None:
    """Import every provider module that exists; each fills ``FACTORIES``."""
    import importlib

    for name in ("facebook", "whatsapp", "line", "telegram", "viber", "vonage"):
        try:
            module = importlib.import_module(f"channels.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"channels.{name}":
                raise
            continue
        factory = getattr(module, "build_adapter", None)
        if factory is not None:
            FACTORIES[name] = factory


class ChannelRegistry:
    """Owns the HTTP client session every adapter shares (one connection pool per process)."""

    def __init__(self, session: aiohttp.ClientSession | None = None) -> None:
        if not FACTORIES:
            _load_providers()
        self._session = session
        self._own_session = session is None
        # Account id -> the account an adapter was made for, and that adapter.
        self._cache: dict[str, tuple[IntegrationAccount, WebhookAdapter]] = {}

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("ChannelRegistry.start() was not called")
        return self._session

    def supports(self, kind: str) -> bool:
        return kind in FACTORIES

    def adapter(self, account: IntegrationAccount) -> WebhookAdapter:
        cached = self._cache.get(account.id)
        # The account cache hands out the same (frozen) object until the account changes.
        if cached is not None and cached[0] is account:
            return cached[1]
        if cached is not None and cached[0] == account:
            # An equal copy (read from the store by another path): keep the one seen last,
            # so the webhook's lookups, which hand out one object, match it by identity.
            self._cache[account.id] = (account, cached[1])
            return cached[1]
        adapter = FACTORIES[account.type](account, self.session)
        self._cache[account.id] = (account, adapter)
        return adapter
