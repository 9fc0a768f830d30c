"""``/api/v1/media-streams``: the media streams of the caller's tenant and their settings,
read-only, with whether each is in office now and when it next opens.

Supervisors and tenant admins may read them; streams are configured in the configuration file.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from router.api import principal_of
from router.config import MediaStreamConfig
from router.hours import is_open, next_open
from router.http_errors import error_response
from router.keys import RUNTIME

READER_ROLES = ("supervisor", "tenant_admin")


def stream_view(stream: MediaStreamConfig, now: datetime) -> dict[str, Any]:
    """The stream's settings, plus ``open_now`` and ``next_open`` (``null`` while open, or
    when it never opens) as ISO 8601 in the stream's time zone."""
    view = stream.model_dump(mode="json")
    open_now = is_open(stream.availability, now)
    opens = None if open_now else next_open(stream.availability, now)
    view["open_now"] = open_now
    zone = stream.availability.zone
    view["next_open"] = opens.astimezone(zone).isoformat() if opens is not None else None
    return view


def _streams(request: web.Request) -> tuple[MediaStreamConfig, ...] | web.Response:
    who = principal_of(request)
    if who.role not in READER_ROLES:
        return error_response(403, "forbidden", "only supervisors and admins read media streams")
    tenant = request.app[RUNTIME].config.tenant(who.tenant)
    return tenant.media_streams if tenant is not None else ()


async def list_streams(request: web.Request) -> web.Response:
    streams = _streams(request)
    if isinstance(streams, web.Response):
        return streams
    now = request.app[RUNTIME].pipeline.clock()
    items = [stream_view(s, now) for s in streams]
    return web.json_response({"items": items, "total": len(items)})


async def get_stream(request: web.Request) -> web.Response:
    streams = _streams(request)
    if isinstance(streams, web.Response):
        return streams
    wanted = request.match_info["stream_id"]
    stream = next((s for s in streams if s.id == wanted), None)
    if stream is None:
        return error_response(404, "not_found", "no such media stream", "stream_id")
    return web.json_response(stream_view(stream, request.app[RUNTIME].pipeline.clock()))
