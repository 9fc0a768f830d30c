"""Admin console: adding a media stream (the *Add media stream* form on
``/admin/media-streams``) and deleting one (``/admin/media-streams/{id}/delete``, with a
confirmation page). Tenant admins only.

A new stream gets its id, name, media type and queue here, with every other setting at its
default; the stream's page then sets business hours and replies. Both go through the same
validation and rules as ``POST`` / ``DELETE /api/v1/media-streams`` (``router.streams_api``):
an invalid or taken id is shown next to its input, a deletion refused while the stream is in
use (``router.stream_usage``) is shown on the confirmation page with the reason.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from router.admin import forms
from router.admin.session import AdminSession
from router.admin.streams import form_field, list_page, stream_of
from router.errors import ConflictError, NotFoundError
from router.keys import RUNTIME
from router.stream_settings import StreamInvalid, parse_stream
from router.stream_usage import delete_stream

BASE = "/admin/media-streams"
NEW_FIELDS = ("id", "name", "media", "queue")


@forms.tenant_admin_page
async def create(request: web.Request, session: AdminSession) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    tenant = session.principal.tenant
    form = await request.post()
    values = {name: str(form.get(name, "")).strip() for name in NEW_FIELDS}
    data: dict[str, Any] = {name: value for name, value in values.items() if value}
    try:
        stream = parse_stream(rt.conversations.tenant(tenant), data, rt.pipeline.clock())
    except StreamInvalid as exc:
        field = exc.field if exc.field in NEW_FIELDS else form_field(exc.field)
        return list_page(request, session, new=values, errors={field: exc.message}, status=400)
    try:
        await rt.conversations.streams.create(tenant, stream)
    except ConflictError as exc:
        return list_page(request, session, new=values, errors={"id": exc.message}, status=409)
    raise web.HTTPSeeOther(f"{BASE}/{stream.id}?created=1")


def _confirm(
    request: web.Request, session: AdminSession, stream_id: str, error: str = "", status: int = 200
) -> web.Response:
    return forms.confirm_page(
        request,
        session,
        "streams",
        heading="Delete media stream",
        question=f"Delete the media stream {stream_id!r}? Its conversations and their "
        "transcripts are kept; new messages to it are refused as for an unknown stream.",
        action=f"{BASE}/{stream_id}/delete",
        submit="Delete",
        back=f"{BASE}/{stream_id}",
        error=error,
        status=status,
    )


@forms.tenant_admin_page
async def delete_form(request: web.Request, session: AdminSession) -> web.StreamResponse:
    return _confirm(request, session, stream_of(request, session).id)


@forms.tenant_admin_page
async def delete(request: web.Request, session: AdminSession) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    tenant = session.principal.tenant
    stream = stream_of(request, session)
    try:
        refused = await delete_stream(
            rt.store, rt.conversations.streams, tenant, stream, checked=False
        )
    except NotFoundError:
        raise web.HTTPNotFound(text="no such media stream") from None
    if refused is not None:
        return _confirm(request, session, stream.id, refused, status=409)
    raise web.HTTPSeeOther(f"{BASE}?deleted={stream.id}")
