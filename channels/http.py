"""One way to call a provider: HTTP status and transport failures become typed errors.

Adapters pass a ``describe`` function that extracts the provider's own error message from
its error body, so every error carries the provider's words.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any

import aiohttp

from channels.errors import (
    ChannelAuthError,
    PermanentSendError,
    ProviderUnavailable,
    RateLimited,
)

Describe = Callable[[Any], str | None]
DEFAULT_TIMEOUT = aiohttp.ClientTimeout(total=15, connect=5)
# Told of every call made in this context: (HTTP status or None for no answer, seconds).
# The outbound worker sets it around a send to count provider latency and errors.
CallObserver = Callable[[int | None, float], None]
call_observer: ContextVar[CallObserver | None] = ContextVar("call_observer", default=None)


def _text(body: Any, describe: Describe | None, status: int) -> str:
    detail = None
    if describe is not None:
        try:
            detail = describe(body)
        except (KeyError, TypeError, AttributeError, IndexError):
            detail = None
    if detail is None:
        detail = body if isinstance(body, str) and body else f"HTTP {status}"
    return str(detail)[:500]


def retry_after(headers: Mapping[str, str], default: float = 1.0) -> float:
    value = headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else default
    except ValueError:
        return default


async def call(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    describe: Describe | None = None,
    client_timeout: aiohttp.ClientTimeout = DEFAULT_TIMEOUT,
    raw_body: bool = False,
    **kwargs: Any,
) -> tuple[int, Any, Mapping[str, str]]:
    """Make the request; return (status, parsed body, headers) for 2xx, else raise.

    With ``raw_body`` a 2xx body is returned as bytes (media downloads)."""
    observer, started = call_observer.get(), time.monotonic()
    try:
        async with session.request(method, url, timeout=client_timeout, **kwargs) as resp:
            raw = await resp.read()
            status, headers = resp.status, resp.headers
    except (TimeoutError, aiohttp.ClientError) as exc:
        if observer is not None:
            observer(None, time.monotonic() - started)
        raise ProviderUnavailable(f"provider unreachable: {type(exc).__name__}: {exc}") from exc
    if observer is not None:
        observer(status, time.monotonic() - started)
    if raw_body and 200 <= status < 300:
        return status, raw, headers
    try:
        body: Any = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode("utf-8", "replace")
    if 200 <= status < 300:
        return status, body, headers
    detail = _text(body, describe, status)
    if status == 429:
        raise RateLimited(detail, retry_after(headers))
    if status in (401, 403):
        raise ChannelAuthError(detail, forbidden=status == 403)
    if status >= 500 or status == 408:
        raise ProviderUnavailable(detail)
    raise PermanentSendError(detail)
