"""Errors of the channel adapters, mapped once to what the outbound worker does."""

from __future__ import annotations

from router.errors import RouterError


class ChannelError(RouterError):
    """A provider interaction failed."""


class ProviderUnavailable(ChannelError):
    """5xx, timeout or transport failure: worth retrying with backoff."""


class RateLimited(ChannelError):
    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentSendError(ChannelError):
    """The provider will never take this message (bad recipient, blocked, auth): dead-letter."""
