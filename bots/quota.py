"""The hard daily cap ("Max API calls per day") per bot account, across every process.

Each API call first takes a slot with ``scripts/bot_quota.lua``: one atomic check-and-
increment of ``sb:{tenant}:botq:{account}:{YYYY-MM-DD}`` that only increments below the max,
so a burst of concurrent messages never exceeds the cap, not even by one call. The day is
the tenant's local date (its ``time_zone``), so the count resets at midnight there; a day's
counter expires after two days. Token exchanges (Watson IAM) happen inside the engine and
are not counted. If the store cannot be asked, the bot is not called (the cap is hard).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from bots.accounts import BotAccount
from bots.base import BotEngine, BotKind, BotReply, BotTurn
from bots.errors import BotQuotaExceeded, BotUnavailable
from channels.base import CheckResult, ConnectionCheck
from router.store.base import script_source, tenant_prefix

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

DAY_TTL_S = 2 * 24 * 3600


def _utcnow() -> datetime:
    return datetime.now(UTC)


class BotQuota:
    """Counts API calls per bot account and tenant-local day; ``clock`` is injectable."""

    def __init__(self, client: aioredis.Redis, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._r = client
        self._clock = clock
        self._take: AsyncScript = client.register_script(script_source("bot_quota"))
        # A burst of messages must queue here, not exhaust the client's connection pool.
        self._gate = asyncio.Semaphore(8)

    def day(self, tz: str) -> str:
        """The tenant's local date now (``YYYY-MM-DD``)."""
        return self._clock().astimezone(ZoneInfo(tz)).date().isoformat()

    def key(self, account: BotAccount, tz: str) -> str:
        return f"{tenant_prefix(account.tenant)}botq:{account.id}:{self.day(tz)}"

    async def take(self, account: BotAccount, tz: str = "UTC") -> bool:
        """Take one call from today's cap; False (nothing taken) when it is reached."""
        async with self._gate:
            left = await self._take(
                keys=[self.key(account, tz)], args=[account.max_api_calls_per_day, DAY_TTL_S]
            )
        return int(left) >= 0

    async def used(self, account: BotAccount, tz: str = "UTC") -> int:
        return int(await self._r.get(self.key(account, tz)) or 0)

    async def remaining(self, account: BotAccount, tz: str = "UTC") -> int:
        """Calls left today in the tenant's time zone ``tz`` (for the API and admin view)."""
        return max(0, account.max_api_calls_per_day - await self.used(account, tz))


class QuotaLimitedEngine:
    """An engine whose every API call (``converse`` and ``test_connection``) takes a slot."""

    def __init__(self, engine: BotEngine, quota: BotQuota, account: BotAccount, tz: str) -> None:
        self.engine = engine
        self._quota = quota
        self._account = account
        self._tz = tz

    @property
    def kind(self) -> BotKind:
        return self.engine.kind

    async def _slot(self) -> None:
        try:
            granted = await self._quota.take(self._account, self._tz)
        except RedisError as exc:
            raise BotUnavailable(f"cannot count the bot's API calls: {exc}") from exc
        if not granted:
            raise BotQuotaExceeded(
                f"max API calls per day ({self._account.max_api_calls_per_day}) reached"
            )

    async def converse(self, turn: BotTurn) -> BotReply:
        await self._slot()
        return await self.engine.converse(turn)

    async def test_connection(self) -> ConnectionCheck:
        try:
            await self._slot()
        except (BotQuotaExceeded, BotUnavailable) as exc:
            return ConnectionCheck(result=CheckResult.UNREACHABLE, detail=f"not called: {exc}")
        return await self.engine.test_connection()
