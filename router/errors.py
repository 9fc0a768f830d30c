"""The error tree's root. Each package hangs its own errors under ``RouterError``."""

from __future__ import annotations


class RouterError(Exception):
    """Base of every error Switchboard raises on purpose."""


class ConfigError(RouterError):
    """Configuration or settings are invalid; the message names the bad field."""


class StoreError(RouterError):
    """The store (Redis) failed or refused an operation."""


class ConflictError(RouterError):
    """A state transition was asked for that the current state does not allow."""

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        # The field of the object being saved that the conflict is about, when one is.
        self.field = field


class NotFoundError(RouterError):
    """The object does not exist (or belongs to another tenant, which looks the same)."""
