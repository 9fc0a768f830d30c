"""Structured logs: one JSON object per line, with the correlation id of the message at hand.

A correlation id is given to every inbound request (or taken from a well-formed
``X-Correlation-Id`` / ``X-Request-Id`` header), travels on the broker envelope
(``Envelope.correlation_id``) to the partition consumer, the waiting line, the dispatcher and
the outbound worker, and is put back in this context by each consumer. ``tenant``,
``session`` and ``channel`` are added where they are known. Records never carry message
bodies or secrets: the code logs ids, counts and reasons only.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Awaitable, Callable
from contextvars import ContextVar, Token
from datetime import UTC, datetime
from typing import Any, TypeVar

from queues.base import Envelope
from router.ids import new_id

CORRELATION_HEADERS = ("X-Correlation-Id", "X-Request-Id")
RESPONSE_HEADER = "X-Correlation-Id"
_WELL_FORMED = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")

correlation_id: ContextVar[str | None] = ContextVar("sb_correlation_id", default=None)
_fields: ContextVar[dict[str, str] | None] = ContextVar("sb_log_fields", default=None)

# Attributes every LogRecord has; anything else was passed with ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))) | {
    "message",
    "asctime",
    "taskName",
}
CONTEXT_FIELDS = ("tenant", "session", "channel")

T = TypeVar("T")


def new_correlation_id() -> str:
    return new_id()


def well_formed(value: str | None) -> str | None:
    """``value`` if it may be used as a correlation id (1-64 safe characters), else None."""
    return value if value is not None and _WELL_FORMED.match(value) else None


def current() -> str | None:
    return correlation_id.get()


class bound:  # lower case: it is used like a function, ``with bound(...)``
    """Within the block, log records carry ``cid`` (a new one if None) and ``fields``.

    A plain class rather than a generator context manager: it is entered for every request
    and every broker delivery."""

    __slots__ = ("_cid", "_fields", "_ftoken", "_token")
    _token: Token[str | None]
    _ftoken: Token[dict[str, str] | None] | None

    def __init__(self, cid: str | None = None, **fields: str | None) -> None:
        self._cid = cid or correlation_id.get() or new_correlation_id()
        self._fields = fields

    def __enter__(self) -> str:
        self._token = correlation_id.set(self._cid)
        self._ftoken = None
        extra = {k: v for k, v in self._fields.items() if v}
        if extra:
            merged = dict(_fields.get() or {})
            merged.update(extra)
            self._ftoken = _fields.set(merged)
        return self._cid

    def __exit__(self, *exc: object) -> None:
        if self._ftoken is not None:
            _fields.reset(self._ftoken)
        correlation_id.reset(self._token)


def with_envelope(
    handler: Callable[[Envelope], Awaitable[T]],
) -> Callable[[Envelope], Awaitable[T]]:
    """A broker handler that runs in the correlation id its envelope carries."""

    async def run(env: Envelope) -> T:
        with bound(env.correlation_id):
            return await handler(env)

    return run


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, correlation_id, tenant,
    session, channel, then any ``extra=`` fields (stringified when not JSON types)."""

    def format(self, record: logging.LogRecord) -> str:
        fields = _fields.get() or {}
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlation_id": correlation_id.get(),
        }
        for name in CONTEXT_FIELDS:
            data[name] = getattr(record, name, None) or fields.get(name)
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in data:
                plain = isinstance(value, str | int | float | bool | None)
                data[key] = value if plain else str(value)
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Human-readable lines, with the correlation id when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        cid = correlation_id.get()
        return f"{line} [cid={cid}]" if cid else line


def configure(level: str, fmt: str) -> None:
    """Install one stderr handler on the root logger with the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
