"""One way to call a bot engine: HTTP status and transport failures become ``bots.errors``.

Mapped once for every engine: 401 → ``BotAuthError``; 403 → ``BotAuthError(forbidden=True)``;
408, 429, 5xx, timeouts and transport failures → ``BotUnavailable``; any other non-2xx →
``BotError``. The per-call timeout is the account's ``timeout_seconds`` (whole request).
Nothing here retries: a message call is not idempotent for the bot's dialog state.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from bots.errors import BotAuthError, BotError, BotUnavailable
from channels.base import CheckResult, ConnectionCheck

Describe = Callable[[Any, Mapping[str, str]], str | None]


def _detail(body: Any, headers: Mapping[str, str], describe: Describe | None, status: int) -> str:
    detail = None
    if describe is not None:
        try:
            detail = describe(body, headers)
        except (KeyError, TypeError, AttributeError, IndexError):
            detail = None
    if not detail:
        detail = body if isinstance(body, str) and body else f"HTTP {status}"
    return str(detail)[:500]


async def call(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    timeout_s: float,
    describe: Describe | None = None,
    **kwargs: Any,
) -> Any:
    """Make the request; return the parsed JSON body of a 2xx answer, else raise."""
    try:
        async with session.request(
            method, url, timeout=aiohttp.ClientTimeout(total=timeout_s), **kwargs
        ) as resp:
            raw = await resp.read()
            status, headers = resp.status, resp.headers
    except TimeoutError as exc:
        raise BotUnavailable(f"bot timed out after {timeout_s:g}s") from exc
    except aiohttp.ClientError as exc:
        raise BotUnavailable(f"bot unreachable: {type(exc).__name__}: {exc}") from exc
    try:
        body: Any = json.loads(raw) if raw else None
    except ValueError:
        body = raw.decode("utf-8", "replace")
    if 200 <= status < 300:
        return body
    detail = _detail(body, headers, describe, status)
    if status in (401, 403):
        raise BotAuthError(detail, forbidden=status == 403)
    if status in (408, 429) or status >= 500:
        raise BotUnavailable(detail)
    raise BotError(detail)


def check_from_error(exc: BotError) -> ConnectionCheck:
    """The Test Connection answer for a failed engine call, in the engine's words."""
    if isinstance(exc, BotAuthError):
        result = CheckResult.FORBIDDEN if exc.forbidden else CheckResult.INVALID_CREDENTIALS
    else:
        # Unreachable, or reached but the bot/alias/skill is not there (404, validation).
        result = CheckResult.UNREACHABLE
    return ConnectionCheck(result=result, detail=str(exc))


_CONTROL = re.compile(r"[\r\n\t\v\f\x00-\x08\x0e-\x1f\x7f]+")
_SPACES = re.compile(r" {2,}")


def flatten(text: str, limit: int) -> str:
    """One line for the engine: no CR/LF/TAB or other control characters, at most ``limit``."""
    flat = _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip()
    return flat[:limit].rstrip()
