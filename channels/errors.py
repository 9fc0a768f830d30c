"""Errors of the channel adapters, each mapped once to what the caller does with it.

Webhook side: ``InvalidSignature`` -> 401 (403 for a failed Meta handshake), ``MalformedPayload``
-> 400. Send side: ``RateLimited`` and ``ProviderUnavailable`` -> retried through the broker with
backoff; ``ChannelAuthError`` and ``PermanentSendError`` -> dead-lettered with the reason.
"""

from __future__ import annotations

from router.errors import RouterError


class ChannelError(RouterError):
    """A provider interaction failed."""


class InvalidSignature(ChannelError):
    """The webhook's signature / secret does not match: nothing from it is trusted."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


class MalformedPayload(ChannelError):
    """The webhook body is not what the provider sends."""


class ProviderUnavailable(ChannelError):
    """5xx, timeout or transport failure: worth retrying with backoff."""


class RateLimited(ChannelError):
    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ChannelAuthError(ChannelError):
    """The provider refused the account's credentials (401) or access (403)."""

    def __init__(self, message: str, *, forbidden: bool = False) -> None:
        super().__init__(message)
        self.forbidden = forbidden


class PermanentSendError(ChannelError):
    """The provider will never take this message (bad recipient, blocked, too old): dead-letter."""


class Unreachable(PermanentSendError):
    """The remote party unsubscribed / blocked us on this account; no send is attempted."""
