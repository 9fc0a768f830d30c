"""``/api/v1/media-streams``: the media streams of the caller's tenant, their settings (with
whether each is in office now and when it next opens), admins' edits, new streams and
deletions, and the reply preview.

The configuration file names the streams and seeds their settings; tenant admins change them
at run time (``PUT`` replaces, ``PATCH`` changes the fields given), create streams (``POST``)
and delete those nothing uses any more (``DELETE``, ``router.stream_usage``). Changes are
stored in Redis and every process uses them at once (``router.stream_settings``). A read
carries the settings' ``ETag``; an update or a deletion with ``If-Match`` is compared and
written in one store transaction, so a change made in between answers 412 and nothing is
written. Roles are declared in ``router.api_routes``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import Field

from router import stream_usage
from router.api import principal_of
from router.api_models import ApiModel, derived
from router.config import MediaStreamConfig
from router.errors import ConflictError, NotFoundError
from router.etag import etag_of, names_version, precondition_failed, stale
from router.hours import is_open, next_open
from router.http_errors import error_response, json_object, model_body
from router.keys import RUNTIME
from router.paging import page_of, paged
from router.store.named import StaleObject
from router.stream_settings import (
    SAMPLE_CUSTOMER,
    TEMPLATES,
    StreamInvalid,
    parse_stream,
    render_preview,
    sample_next_open,
)

FIXED = ("id", "media")

StreamCreateInput = derived(MediaStreamConfig, "StreamCreateInput", set(), {})

StreamInput = derived(
    MediaStreamConfig,
    "StreamInput",
    {"id"},
    {"id": (str | None, Field(default=None, description="The path's stream id, if given"))},
)


class ReplyPreviewRequest(ApiModel):
    """Templates to render (omitted: the stream's saved ones), and unsaved name / language."""

    initial_reply: str | None = Field(default=None, max_length=4000)
    after_hours_reply: str | None = Field(default=None, max_length=4000)
    name: str | None = Field(default=None, max_length=200)
    language: str | None = Field(default=None, max_length=35)


class ReplyPreview(ApiModel):
    """The replies as a customer would get them, rendered with sample values."""

    initial_reply: str | None
    after_hours_reply: str | None
    customer: dict[str, str]
    next_open: str = Field(description="The next_open used for the after-hours reply")


def settings_etag(stream: MediaStreamConfig) -> str:
    """The ETag of a stream's settings (not of ``open_now``, which changes by itself)."""
    return etag_of(stream)


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


def _with_etag(stream: MediaStreamConfig, now: datetime) -> web.Response:
    resp = web.json_response(stream_view(stream, now))
    resp.headers["ETag"] = settings_etag(stream)
    return resp


def _current(request: web.Request) -> MediaStreamConfig | web.Response:
    who = principal_of(request)
    found = request.app[RUNTIME].conversations.streams.find(
        who.tenant, request.match_info["stream_id"]
    )
    if found is None:
        return error_response(404, "not_found", "no such media stream", "stream_id")
    return found


async def list_streams(request: web.Request) -> web.Response:
    page = page_of(request)
    if isinstance(page, web.Response):
        return page
    rt = request.app[RUNTIME]
    now = rt.pipeline.clock()
    streams = rt.conversations.streams.of_tenant(principal_of(request).tenant)
    return paged([stream_view(s, now) for s in streams], page)


async def get_stream(request: web.Request) -> web.Response:
    stream = _current(request)
    if isinstance(stream, web.Response):
        return stream
    return _with_etag(stream, request.app[RUNTIME].pipeline.clock())


async def update_stream(request: web.Request) -> web.Response:
    """``PUT`` replaces the settings (omitted fields take their defaults); ``PATCH`` changes
    only the fields given. ``id`` and ``media`` cannot change."""
    rt = request.app[RUNTIME]
    tenant = principal_of(request).tenant
    current = _current(request)
    if isinstance(current, web.Response):
        return current
    body = await json_object(request)
    if isinstance(body, web.Response):
        return body
    blocked = precondition_failed(request, settings_etag(current))
    if blocked is not None:
        return blocked
    fixed = current.model_dump(mode="json")
    for name in FIXED:
        if body.get(name, fixed[name]) != fixed[name]:
            return error_response(400, "invalid", f"{name}: cannot be changed", name)
    base = fixed if request.method == "PATCH" else {name: fixed[name] for name in FIXED}
    now = rt.pipeline.clock()
    try:
        stream = parse_stream(rt.conversations.tenant(tenant), {**base, **body}, now)
    except StreamInvalid as exc:
        return error_response(400, "invalid", exc.message, exc.field)
    checked = current if names_version(request) else None
    try:
        await rt.conversations.streams.save(tenant, stream, expected=checked)
    except StaleObject:
        stored = await rt.conversations.streams.store.get(tenant, current.id)
        return stale("media stream", settings_etag(stored or current))
    except NotFoundError:  # deleted by another process meanwhile
        return error_response(404, "not_found", "no such media stream", "stream_id")
    return _with_etag(stream, now)


async def create_stream(request: web.Request) -> web.Response:
    """A new stream of the caller's tenant, validated as an edit is; 409 when the id is
    taken."""
    rt = request.app[RUNTIME]
    tenant = principal_of(request).tenant
    body = await json_object(request)
    if isinstance(body, web.Response):
        return body
    now = rt.pipeline.clock()
    try:
        stream = parse_stream(rt.conversations.tenant(tenant), body, now)
    except StreamInvalid as exc:
        return error_response(400, "invalid", exc.message, exc.field)
    try:
        await rt.conversations.streams.create(tenant, stream)
    except ConflictError as exc:
        return error_response(409, exc.code, exc.message, "id")
    resp = _with_etag(stream, now)
    resp.set_status(201)
    resp.headers["Location"] = f"/api/v1/media-streams/{stream.id}"
    return resp


async def delete_stream(request: web.Request) -> web.Response:
    """Delete a stream nothing uses any more (``router.stream_usage``: else 409 naming what
    is in the way); with ``If-Match``, only the settings that were read."""
    rt = request.app[RUNTIME]
    tenant = principal_of(request).tenant
    current = _current(request)
    if isinstance(current, web.Response):
        return current
    blocked = precondition_failed(request, settings_etag(current))
    if blocked is not None:
        return blocked
    streams = rt.conversations.streams
    try:
        refused = await stream_usage.delete_stream(
            rt.store, streams, tenant, current, checked=names_version(request)
        )
    except StaleObject:
        stored = await rt.conversations.streams.store.get(tenant, current.id)
        return stale("media stream", settings_etag(stored or current))
    except NotFoundError:
        return error_response(404, "not_found", "no such media stream", "stream_id")
    if refused is not None:
        return error_response(409, "conflict", refused, "stream_id")
    return web.Response(status=204)


def preview_answer(
    stream: MediaStreamConfig, wanted: ReplyPreviewRequest, now: datetime
) -> dict[str, Any]:
    """The preview of ``stream``'s replies with the unsaved values of ``wanted``
    (``StreamInvalid`` naming the template that does not compile or render)."""
    changes = {k: v for k, v in (("name", wanted.name), ("language", wanted.language)) if v}
    shown = stream.model_copy(update=changes)
    rendered: dict[str, str | None] = {}
    for field in TEMPLATES:
        source = getattr(wanted, field)
        source = getattr(stream, field) if source is None else source
        rendered[field] = render_preview(shown, field, source, now) if source else None
    opens = sample_next_open(shown, now)
    return {
        **rendered,
        "customer": SAMPLE_CUSTOMER.model_dump(mode="json", exclude_none=True),
        "next_open": opens.isoformat(),
    }


async def reply_preview(request: web.Request) -> web.Response:
    """Render the initial and after-hours replies with sample values (the form's preview)."""
    stream = _current(request)
    if isinstance(stream, web.Response):
        return stream
    wanted = await model_body(request, ReplyPreviewRequest)
    if isinstance(wanted, web.Response):
        return wanted
    try:
        answer = preview_answer(stream, wanted, request.app[RUNTIME].pipeline.clock())
    except StreamInvalid as exc:
        return error_response(400, "invalid", exc.message, exc.field)
    return web.json_response(answer)
