"""Bot errors. Any of them means: skip the bot, the customer goes to an agent."""

from __future__ import annotations

from router.errors import RouterError


class BotError(RouterError):
    """The bot could not answer."""


class BotAuthError(BotError):
    def __init__(self, message: str, *, forbidden: bool = False) -> None:
        super().__init__(message)
        self.forbidden = forbidden


class BotUnavailable(BotError):
    """Timeout, 5xx, throttling, transport failure, or the circuit breaker is open."""


class BotQuotaExceeded(BotError):
    """The account's max API calls per day is reached."""
