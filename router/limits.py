"""Resource limits against abuse (``docs/limits.md``).

* Request bodies: a size limit per route group (webhooks, API, admin forms), answered 413
  before the handler sees a byte more than allowed.
* Inbound messages: per tenant and per remote party, counted in Redis so the limits hold
  across every process (``store/scripts/rate_limit.lua``); ``Pipeline.submit`` raises
  ``InboundRateLimited`` and each entry point answers it its own way.
* WebSocket frames: a token bucket per socket (``FrameRate``).

Every refusal is counted in ``switchboard_rejected_requests{route, limit}``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import redis.asyncio as aioredis
from aiohttp import WebSocketError, WSCloseCode, WSMessage, web
from redis.exceptions import RedisError

from router.http_errors import error_response
from router.store.base import script_source, tenant_prefix
from router.store.batching import ScriptBatcher

if TYPE_CHECKING:
    from router.metrics import Metrics
    from router.settings import Settings

log = logging.getLogger(__name__)
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def route_group(path: str) -> str:
    """The route group a path belongs to, for body limits and metric labels."""
    if path.startswith("/webhooks/"):
        return "webhook"
    if path.startswith(("/api/", "/oauth/")):
        return "api"
    if path.startswith("/admin"):
        return "admin"
    return "other"


def body_limit(settings: Settings, group: str) -> int:
    if group == "webhook":
        return settings.webhook_max_body_bytes
    if group == "admin":
        return settings.admin_max_body_bytes
    return settings.api_max_body_bytes


def largest_body(settings: Settings) -> int:
    """The application-wide ``client_max_size``: no route takes more than this."""
    return max(settings.webhook_max_body_bytes, settings.api_max_body_bytes,
               settings.admin_max_body_bytes)  # fmt: skip


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def body_limits(
    settings: Settings, metrics: Metrics
) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Middleware: 413 ``{"error": ...}`` for a body over its route group's limit."""

    def too_large(group: str, limit: int) -> web.Response:
        metrics.rejected_requests.labels(group, "body_size").inc()
        return error_response(
            413, "payload_too_large", f"the request body is larger than {limit} bytes"
        )

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method not in BODY_METHODS:
            return await handler(request)
        group = route_group(request.path)
        limit = body_limit(settings, group)
        length = request.content_length
        if length is not None and length > limit:
            return too_large(group, limit)
        if length is None and limit != request.client_max_size:
            # A body of unknown length (chunked) is cut off at this route's limit as it is
            # read; one with a length was checked above, and the parser reads no more than
            # that (the largest limit is the application's).
            request = request.clone(client_max_size=limit)
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            return too_large(group, limit)

    return middleware


class InboundRateLimited(Exception):  # a control signal for the entry points, like Retry
    """An inbound message over its tenant's (``scope == "tenant"``) or its remote party's
    (``"party"``) limit; ``retry_after`` seconds until the window ends."""

    def __init__(self, scope: str, retry_after: float) -> None:
        super().__init__(f"too many messages for this {scope}; retry in {retry_after:.0f}s")
        self.scope = scope
        self.retry_after = retry_after

    @property
    def retry_after_header(self) -> str:
        return str(max(1, math.ceil(self.retry_after)))


class InboundLimiter:
    """Fixed-window message counters per tenant and per (tenant, remote party) in Redis.

    If the store cannot be asked, the message is let through (the store failing will answer
    for itself further down the path)."""

    def __init__(
        self, client: aioredis.Redis, *, tenant_limit: int, party_limit: int, window: float,
        batcher: ScriptBatcher | None = None,
    ) -> None:  # fmt: skip
        # ``batcher``: the store's, so a webhook's check shares the filings' round trips.
        batcher = batcher if batcher is not None else ScriptBatcher(client)
        self._script = batcher.register(script_source("rate_limit"))
        self.tenant_limit = tenant_limit
        self.party_limit = party_limit
        self.window_ms = max(1, int(window * 1000))

    @classmethod
    def from_settings(cls, batcher: ScriptBatcher, settings: Settings) -> InboundLimiter | None:
        if not settings.tenant_messages_per_window and not settings.party_messages_per_window:
            return None
        return cls(
            batcher.client,
            batcher=batcher,
            tenant_limit=settings.tenant_messages_per_window,
            party_limit=settings.party_messages_per_window,
            window=settings.rate_window_seconds,
        )

    async def check(self, tenant: str, party: str) -> None:
        """Count one message; raises ``InboundRateLimited`` (nothing counted) past a limit."""
        prefix = tenant_prefix(tenant)
        keys = [f"{prefix}rl:t", f"{prefix}rl:p:{party}"]
        try:
            verdict, left_ms = await self._script(
                keys=keys, args=[self.tenant_limit, self.party_limit, self.window_ms]
            )
        except RedisError:
            log.warning("inbound rate limit not checked: store unavailable", exc_info=True)
            return
        if int(verdict):
            scope = "tenant" if int(verdict) == 1 else "party"
            raise InboundRateLimited(scope, int(left_ms) / 1000)


class FrameRate:
    """A token bucket for the frames one WebSocket sends: ``rate`` per second, bursts of
    ``2 * rate``. ``clock`` is injectable."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(1.0, 2 * rate)
        self._tokens = self.burst
        self._clock = clock
        self._at = clock()
        # Frames refused in a row; past ``burst`` of them the socket is closed (1008).
        self.refused = 0

    def allow(self) -> bool:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1:
            self._tokens -= 1
            self.refused = 0
            return True
        self.refused += 1
        return False

    @property
    def abusive(self) -> bool:
        """The client keeps sending although told to slow down."""
        return self.refused > self.burst


CLOSE_TOO_MANY_FRAMES = 1008  # policy violation


async def ws_frame_allowed(
    metrics: Metrics, ws: web.WebSocketResponse, rate: FrameRate, route: str
) -> bool:
    """Take one frame from the socket's bucket. Past it: an ``error`` frame
    ``rate_limited`` (the frame is ignored); a client that keeps going is closed (1008)."""
    if rate.allow():
        return True
    metrics.rejected_requests.labels(route, "ws_rate").inc()
    if rate.abusive:
        await ws.close(code=CLOSE_TOO_MANY_FRAMES, message=b"too many frames")
        return False
    frame = {"type": "error", "code": "rate_limited",
             "message": f"more than {rate.rate:g} frames per second; frame ignored"}  # fmt: skip
    await ws.send_str(json.dumps(frame))
    return False


def ws_error(metrics: Metrics, msg: WSMessage, route: str) -> None:
    """Count a socket closed for a frame over ``max_msg_size`` (aiohttp closes it, 1009)."""
    error = msg.data
    if isinstance(error, WebSocketError) and error.code == WSCloseCode.MESSAGE_TOO_BIG:
        metrics.rejected_requests.labels(route, "ws_size").inc()
