"""Admin console: media streams (``/admin/media-streams``), the New Media Stream form's fields
for editing a stream at run time, business hours, and reply templates with a preview. Adding
and deleting a stream: ``router.admin.stream_lifecycle``.

The form works without JavaScript: *Preview replies* re-renders it with the replies rendered
from the typed templates (nothing saved), *Save* stores the edit. ``stream-form.js`` adds the
live preview: it posts the templates to ``/admin/media-streams/{id}/reply-preview`` (the same
rendering as ``POST /api/v1/media-streams/{id}/reply-preview``) as the admin types. The form
carries the ETag of the settings it shows; saving over a newer edit is refused and the newer
settings are shown. Tenant admins only.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import datetime
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from router.admin.forms import tenant_admin_page
from router.admin.session import CSRF_FIELD, AdminSession
from router.config import MediaStreamConfig
from router.errors import NotFoundError
from router.hours import WEEKDAYS, is_open, next_open
from router.keys import RUNTIME
from router.models import ChannelKind
from router.pages import render_page
from router.store.named import StaleObject
from router.stream_settings import (
    TEMPLATES,
    StreamInvalid,
    parse_stream,
    render_preview,
)
from router.streams_api import settings_etag

DAY_NAMES = dict(zip(WEEKDAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
                                "Saturday", "Sunday"), strict=True))  # fmt: skip
CHECKBOXES = ("can_transfer", "can_escalate", "use_last_agent", "reopen_on_reply")
NUMBERS = {
    "priority": int,
    "reopen_window_seconds": float,
    "inactivity_timeout_seconds": float,
}
_RANGE = re.compile(r"^\s*(\d{1,2}:\d{2})\s*[-\u2013]\s*(\d{1,2}:\d{2})\s*$")
_HOLIDAY = re.compile(r"^\s*(\S+)\s*(.*?)\s*$")
ZONES = tuple(sorted(zoneinfo.available_timezones()))

# Labels as on the New Media Stream form, and their help texts.
LABELS = {
    "name": "Name",
    "language": "Language",
    "media": "Media Type",
    "queue": "Queue",
    "priority": "Priority",
    "can_transfer": "Conversation Can Be Transferred",
    "can_escalate": "Conversation Can Be Escalated",
    "escalation_queue": "Escalation Queue",
    "time_zone": "Timezone",
    "profile": "In Office Profile",
    "holidays": "Holidays",
    "use_last_agent": "Use Last Agent If Available",
    "reopen_on_reply": "Reopen Conversation On Reply",
    "reopen_window_seconds": "Reopen Window (seconds)",
    "inactivity_timeout_seconds": "Inactivity Timeout (seconds)",
    "initial_reply": "Initial reply within business hours",
    "after_hours_reply": "Reply outside business hours",
}
HELP = {
    "form": "Add or update a media stream to the queue, each media stream represents an entry"
    " point into the queue through a media type.",
    "name": "Shown to agents, and the sender name of automatic replies ({{ stream.name }} in"
    " reply templates).",
    "language": "The stream's language, e.g. en-GB ({{ stream.language }} in reply templates).",
    "media": "The channel customers use to reach this stream; it cannot be changed.",
    "queue": "The queue conversations from this stream wait in for an agent.",
    "priority": "0 to 9: conversations with a higher priority are offered first.",
    "can_transfer": "Agents may transfer a conversation to another queue or agent.",
    "can_escalate": "Agents may escalate a conversation to the escalation queue.",
    "escalation_queue": "Where an escalated conversation goes (needed to allow escalation).",
    "time_zone": "The time zone of the business hours; daylight saving follows it.",
    "profile": "Always online, or open only during the weekly hours below.",
    "hours": "Opening hours per day as HH:MM-HH:MM ranges separated by commas, e.g."
    " 09:00-12:30, 13:30-17:30. Leave a day empty to stay closed that day.",
    "holidays": "One day per line: YYYY-MM-DD and an optional name. Closed all day.",
    "use_last_agent": "A reopened conversation is offered first to the agent who last had it,"
    " if that agent is available.",
    "reopen_on_reply": "A message soon after a conversation closed reopens it instead of"
    " starting a new one.",
    "reopen_window_seconds": "How long after a close a message still reopens the conversation.",
    "inactivity_timeout_seconds": "A conversation nobody writes in for this long is closed.",
    "initial_reply": "Sent when a conversation opens within business hours. A template:"
    " {{ customer.name }}, {{ customer.email }}, {{ stream.name }}, {{ stream.language }}.",
    "after_hours_reply": "Sent instead when a conversation opens outside business hours;"
    " also {{ next_open }}, when the stream opens next.",
}


def _context(session: AdminSession, **extra: Any) -> dict[str, Any]:
    return {
        "nav_active": "admin",
        "admin_nav": "streams",
        "who": session.principal,
        "is_tenant_admin": session.is_tenant_admin,
        "csrf_field": CSRF_FIELD,
        "csrf": session.csrf,
        "labels": LABELS,
        "help": HELP,
        **extra,
    }


def stream_of(request: web.Request, session: AdminSession) -> MediaStreamConfig:
    found = request.app[RUNTIME].conversations.streams.find(
        session.principal.tenant, request.match_info["stream_id"]
    )
    if found is None:
        raise web.HTTPNotFound(text="no such media stream")
    return found


# -- list ------------------------------------------------------------------------------------


def list_page(
    request: web.Request,
    session: AdminSession,
    *,
    new: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    notice: str = "",
    status: int = 200,
) -> web.Response:
    """The list with the *Add media stream* form (``new``: its values; ``errors`` by input)."""
    rt = request.app[RUNTIME]
    now = rt.pipeline.clock()
    tenant = session.principal.tenant
    rows = [
        {"stream": s, "open_now": is_open(s.availability, now)}
        for s in rt.conversations.streams.of_tenant(tenant)
    ]
    queues = [(q.id, q.name or q.id) for q in rt.conversations.tenant(tenant).queues]
    response = render_page(
        request,
        "admin/media_streams.html",
        _context(
            session, rows=rows, new=new or {}, errors=errors or {}, notice=notice,
            queues=queues, media=[kind.value for kind in ChannelKind],
        ),
    )  # fmt: skip
    response.set_status(status)
    return response


@tenant_admin_page
async def index(request: web.Request, session: AdminSession) -> web.StreamResponse:
    deleted = request.query.get("deleted", "")
    notice = f"Media stream {deleted!r} deleted." if deleted else ""
    return list_page(request, session, notice=notice)


# -- the form --------------------------------------------------------------------------------


def _values_of(stream: MediaStreamConfig) -> dict[str, Any]:
    """The form's values for the stored settings."""
    weekly = stream.availability.weekly
    hours = {
        day: ", ".join(f"{r.start}-{r.end}" for r in weekly.on(i)) if weekly is not None else ""
        for i, day in enumerate(WEEKDAYS)
    }
    return {
        "name": stream.name,
        "language": stream.language,
        "queue": stream.queue,
        "priority": str(stream.priority),
        "can_transfer": stream.can_transfer,
        "can_escalate": stream.can_escalate,
        "escalation_queue": stream.escalation_queue or "",
        "use_last_agent": stream.use_last_agent,
        "reopen_on_reply": stream.reopen_on_reply,
        "reopen_window_seconds": _number(stream.reopen_window_seconds),
        "inactivity_timeout_seconds": _number(stream.inactivity_timeout_seconds),
        "time_zone": stream.availability.time_zone,
        "profile": "weekly" if weekly is not None else "always_online",
        "hours": hours,
        "holidays": "\n".join(
            f"{h.date.isoformat()} {h.name}".strip() for h in stream.availability.holidays
        ),
        "initial_reply": stream.initial_reply or "",
        "after_hours_reply": stream.after_hours_reply or "",
    }


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def _posted_values(form: MultiDictProxy[Any]) -> dict[str, Any]:
    text = {name: str(form.get(name, "")) for name in LABELS if name not in CHECKBOXES}
    return {
        **text,
        **{name: form.get(name) == "on" for name in CHECKBOXES},
        "hours": {day: str(form.get(f"hours_{day}", "")) for day in WEEKDAYS},
    }


def _availability(values: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    availability: dict[str, Any] = {"time_zone": values["time_zone"].strip()}
    if values["profile"] != "weekly":
        availability["in_office_profile"] = "always_online"
    else:
        profile: dict[str, list[list[str]]] = {}
        for day in WEEKDAYS:
            ranges = []
            for part in filter(None, (p.strip() for p in values["hours"][day].split(","))):
                found = _RANGE.match(part)
                if found is None:
                    errors[f"hours_{day}"] = f"{part!r}: use HH:MM-HH:MM, separated by commas"
                    break
                ranges.append([found.group(1), found.group(2)])
            profile[day] = ranges
        availability["in_office_profile"] = profile
    holidays = []
    for line in filter(None, (x.strip() for x in values["holidays"].splitlines())):
        found = _HOLIDAY.match(line)
        assert found is not None  # any non-blank line matches
        holidays.append({"date": found.group(1), "name": found.group(2)})
    availability["holidays"] = holidays
    return availability


def _settings(
    stream: MediaStreamConfig, values: dict[str, Any], errors: dict[str, str]
) -> dict[str, Any]:
    """The raw settings the form asks for (fields not on the form keep their values)."""
    data = stream.model_dump(mode="json")
    for name in ("name", "language", "queue"):
        data[name] = values[name].strip()
    for name in CHECKBOXES:
        data[name] = values[name]
    data["escalation_queue"] = values["escalation_queue"] or None
    for name, kind in NUMBERS.items():
        raw = values[name].strip()
        try:
            data[name] = kind(raw)
        except ValueError:
            errors[name] = f"{raw!r} is not a number" if raw else "Enter a number."
    for name in TEMPLATES:
        data[name] = values[name].replace("\r\n", "\n").strip() or None
    data["availability"] = _availability(values, errors)
    return data


def form_field(field: str | None) -> str:
    """The form input an API field error belongs to."""
    if field is None:
        return "form"
    if field == "availability.time_zone":
        return "time_zone"
    if field.startswith("availability.holidays"):
        return "holidays"
    if field.startswith("availability"):
        return "profile"
    return field.split(".")[0] if field.split(".")[0] in LABELS else "form"


def _previews(
    stream: MediaStreamConfig, values: dict[str, Any], now: datetime
) -> tuple[dict[str, str], dict[str, str]]:
    shown = stream.model_copy(
        update={"name": values["name"].strip() or stream.name,
                "language": values["language"].strip() or stream.language}
    )  # fmt: skip
    previews: dict[str, str] = {}
    errors: dict[str, str] = {}
    for field in TEMPLATES:
        source = values[field].replace("\r\n", "\n").strip()
        if not source:
            continue
        try:
            previews[field] = render_preview(shown, field, source, now)
        except StreamInvalid as exc:
            errors[field] = exc.message
    return previews, errors


def _form_page(
    request: web.Request,
    session: AdminSession,
    stream: MediaStreamConfig,
    values: dict[str, Any],
    *,
    etag: str,
    errors: dict[str, str] | None = None,
    previews: dict[str, str] | None = None,
    notice: str = "",
    status: int = 200,
) -> web.Response:
    rt = request.app[RUNTIME]
    tenant = rt.conversations.tenant(session.principal.tenant)
    now = rt.pipeline.clock()
    opens = None if is_open(stream.availability, now) else next_open(stream.availability, now)
    response = render_page(
        request,
        "admin/media_stream_form.html",
        _context(
            session,
            stream=stream,
            values=values,
            etag=etag,
            errors=errors or {},
            previews=previews or {},
            notice=notice,
            queues=[(q.id, q.name or q.id) for q in tenant.queues],
            weekdays=[(day, DAY_NAMES[day]) for day in WEEKDAYS],
            zones=ZONES,
            open_now=opens is None,
            next_open=opens.astimezone(stream.availability.zone) if opens else None,
        ),
    )
    response.set_status(status)
    return response


@tenant_admin_page
async def edit_form(request: web.Request, session: AdminSession) -> web.StreamResponse:
    stream = stream_of(request, session)
    notice = "Saved." if request.query.get("saved") else ""
    if request.query.get("created"):
        notice = "Created. Set its business hours and automatic replies below."
    now = request.app[RUNTIME].pipeline.clock()
    values = _values_of(stream)
    previews, _ = _previews(stream, values, now)
    return _form_page(
        request, session, stream, values, etag=settings_etag(stream), previews=previews,
        notice=notice,
    )  # fmt: skip


@tenant_admin_page
async def update(request: web.Request, session: AdminSession) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    tenant = session.principal.tenant
    stream = stream_of(request, session)
    form = await request.post()
    values = _posted_values(form)
    now = rt.pipeline.clock()
    previews, errors = _previews(stream, values, now)
    etag = str(form.get("etag", ""))
    if form.get("action") == "preview":
        return _form_page(
            request, session, stream, values, etag=etag, errors=errors, previews=previews
        )
    data = _settings(stream, values, errors)
    edited: MediaStreamConfig | None = None
    if not errors:
        try:
            edited = parse_stream(rt.conversations.tenant(tenant), data, now)
        except StreamInvalid as exc:
            errors[form_field(exc.field)] = exc.message
    if edited is None:
        return _form_page(
            request, session, stream, values, etag=etag, errors=errors, previews=previews,
            status=400,
        )  # fmt: skip
    if etag != settings_etag(stream):
        return _stale(request, session, stream)
    try:
        await rt.conversations.streams.save(tenant, edited, expected=stream)
    except StaleObject:
        fresh = await rt.conversations.streams.store.get(tenant, stream.id)
        return _stale(request, session, fresh or stream)
    except NotFoundError:  # deleted by another process meanwhile
        raise web.HTTPNotFound(text="no such media stream") from None
    raise web.HTTPSeeOther(f"/admin/media-streams/{stream.id}?saved=1")


def _stale(request: web.Request, session: AdminSession, current: MediaStreamConfig) -> web.Response:
    return _form_page(
        request, session, current, _values_of(current), etag=settings_etag(current),
        errors={"form": "Someone else saved this media stream since you opened it. The form "
                "now shows their settings: make your changes again and save."},
        status=409,
    )  # fmt: skip


@tenant_admin_page
async def reply_preview(request: web.Request, session: AdminSession) -> web.StreamResponse:
    """The live preview (``stream-form.js``): the posted templates rendered with sample values,
    as JSON ``{"previews": {field: text}, "errors": {field: message}}``."""
    stream = stream_of(request, session)
    form = await request.post()
    values = {
        "name": str(form.get("name", "")),
        "language": str(form.get("language", "")),
        **{field: str(form.get(field, "")) for field in TEMPLATES},
    }
    previews, errors = _previews(stream, values, request.app[RUNTIME].pipeline.clock())
    return web.json_response({"previews": previews, "errors": errors})
