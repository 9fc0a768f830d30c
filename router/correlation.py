"""Middleware giving every request a correlation id (``router.logs``) and timing webhooks.

The id is taken from a well-formed ``X-Correlation-Id`` or ``X-Request-Id`` header, or made
up, and echoed as ``X-Correlation-Id`` on the response. Webhook answers are observed in
``switchboard_webhook_seconds{channel, status}``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from router import logs
from router.metrics import Metrics, status_class
from router.models import ChannelKind

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_CHANNELS = frozenset(kind.value for kind in ChannelKind)


def webhook_channel(path: str) -> str | None:
    """The channel label of a webhook path (None: not a webhook)."""
    parts = path.split("/")
    if len(parts) < 3 or parts[1] != "webhooks":
        return None
    if parts[2] == "inteliquent":
        return ChannelKind.SMS.value
    return parts[2] if parts[2] in _CHANNELS else "unknown"


def incoming_id(request: web.Request) -> str | None:
    for header in logs.CORRELATION_HEADERS:
        cid = logs.well_formed(request.headers.get(header))
        if cid is not None:
            return cid
    return None


def middleware(metrics: Metrics) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def correlate(request: web.Request, handler: Handler) -> web.StreamResponse:
        channel = webhook_channel(request.path)
        started = time.monotonic()
        status: int | None = None
        with logs.bound(incoming_id(request) or logs.new_correlation_id()) as cid:
            try:
                response = await handler(request)
                status = response.status
            except web.HTTPException as exc:
                status = exc.status
                exc.headers[logs.RESPONSE_HEADER] = cid
                raise
            finally:
                if channel is not None:
                    seconds = time.monotonic() - started
                    metrics.webhook_latency.labels(channel, status_class(status)).observe(seconds)
            if not response.prepared:
                response.headers[logs.RESPONSE_HEADER] = cid
            return response

    return correlate
