"""A circuit breaker per bot account, so a failing bot is skipped at once.

Closed: calls go through; ``failures`` consecutive failures (``BotUnavailable`` or
``BotAuthError``) open it. Open: calls fail at once with ``BotUnavailable`` until
``cooldown_s`` has passed; then half-open: one probe call goes through, and its success
closes the breaker, its failure opens it again. The cap being reached is not a failure.
Per process (each process learns on its own); ``clock`` is injectable.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum

from bots.base import BotEngine, BotKind, BotReply, BotTurn
from bots.errors import BotAuthError, BotUnavailable
from channels.base import ConnectionCheck


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self,
        *,
        failures: int = 5,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = failures
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self.cooldown_s:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allow(self) -> bool:
        """May a call go out now? In half-open, only one probe at a time."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._probing = False

    def failure(self) -> None:
        self._failures += 1
        if self._probing or self._failures >= self.threshold:
            self._opened_at = self._clock()
        self._probing = False

    def done(self) -> None:
        """The call ended without a verdict (cancelled, cap reached): free the probe slot."""
        self._probing = False


class Breakers:
    """One breaker per bot account (tenant, id) in this process."""

    def __init__(
        self,
        *,
        failures: int = 5,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._failures = failures
        self._cooldown_s = cooldown_s
        self._clock = clock
        self._breakers: dict[tuple[str, str], CircuitBreaker] = {}

    def get(self, tenant: str, account_id: str) -> CircuitBreaker:
        key = (tenant, account_id)
        if key not in self._breakers:
            self._breakers[key] = CircuitBreaker(
                failures=self._failures, cooldown_s=self._cooldown_s, clock=self._clock
            )
        return self._breakers[key]


class BreakerEngine:
    """Wraps an engine (typically a ``QuotaLimitedEngine``) with its account's breaker."""

    def __init__(self, engine: BotEngine, breaker: CircuitBreaker) -> None:
        self.engine = engine
        self.breaker = breaker

    @property
    def kind(self) -> BotKind:
        return self.engine.kind

    async def converse(self, turn: BotTurn) -> BotReply:
        if not self.breaker.allow():
            raise BotUnavailable("bot skipped: circuit breaker open after repeated failures")
        try:
            reply = await self.engine.converse(turn)
        except (BotUnavailable, BotAuthError):
            self.breaker.failure()
            raise
        finally:
            self.breaker.done()
        self.breaker.success()
        return reply

    async def test_connection(self) -> ConnectionCheck:
        return await self.engine.test_connection()
