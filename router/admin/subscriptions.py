"""Console pages of event-webhook subscriptions: list, add, edit, delete, delivery log.

Tenant admins only. Forms validate with the API's ``SubscriptionInput``. The signing secret
is write-only like in the API: generated when left blank, shown once on the page that
answers the creation, and afterwards only as set; a new one typed on edit rotates it.
"""

from __future__ import annotations

import dataclasses
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from router.admin import forms
from router.admin.session import AdminSession, admin_page
from router.event_bus import EVENT_TYPES
from router.event_subscriptions_api import SubscriptionInput
from router.keys import RUNTIME
from router.pages import render_page
from router.store.events import StoredSubscription

BASE = "/admin/event-subscriptions"
LABELS = {"url": "URL", "events": "Events", "secret": "Signing secret", "enabled": "Enabled"}
HELP = {
    "url": "The http:// or https:// address that receives the events (POST, JSON).",
    "events": "The event types to send; * sends every type, including ones added later.",
    "secret": "Signs every delivery (HMAC-SHA256, see the event webhooks documentation). Leave"
    " blank to generate one; it is shown once, right after the subscription is added.",
    "enabled": "Deliveries are sent only while the subscription is enabled.",
}


def _fields() -> list[forms.FormField]:
    fields = forms.fields_of(
        SubscriptionInput, ("url", "events", "secret", "enabled"), labels=LABELS, help=HELP
    )
    kinds: dict[str, dict[str, Any]] = {
        "events": {"kind": "multi", "choices": (("*", "*"), *((e, e) for e in EVENT_TYPES))},
        "secret": {"kind": "secret"},
    }
    return [dataclasses.replace(f, **kinds.get(f.name, {})) for f in fields]


def _view(sub: StoredSubscription) -> dict[str, Any]:
    return {
        "id": sub.id,
        "url": sub.url,
        "events": list(sub.events),
        "enabled": sub.enabled,
        "secret_set": bool(sub.secret),
        "created_at": sub.created_at,
    }


async def _sub(request: web.Request, session: AdminSession) -> StoredSubscription:
    sub = await request.app[RUNTIME].store.events.get(
        session.principal.tenant, request.match_info["sub_id"]
    )
    if sub is None:
        raise web.HTTPNotFound(text="no such event subscription")
    return sub


@admin_page
async def index(request: web.Request, session: AdminSession) -> web.StreamResponse:
    if not session.is_tenant_admin:
        return forms.admins_only()
    subs = await request.app[RUNTIME].store.events.all(session.principal.tenant)
    return render_page(
        request,
        "admin/event_subscriptions.html",
        forms.context(session, "subscriptions", subs=[_view(s) for s in subs], help=HELP),
    )


def _form(
    request: web.Request,
    session: AdminSession,
    *,
    sub: StoredSubscription | None,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    fields = _fields()
    errors = errors or {}
    response = render_page(
        request,
        "admin/form.html",
        forms.context(
            session,
            "subscriptions",
            heading="Edit event subscription" if sub else "Add event subscription",
            lead="Switchboard POSTs the chosen events to this URL, signed with the secret.",
            action=f"{BASE}/{sub.id}" if sub else f"{BASE}/new",
            hidden={},
            fields=fields,
            values=values,
            errors=errors,
            top_errors=forms.unplaced(errors, fields),
            secrets_set={"secret": bool(sub.secret)} if sub else {},
            editing=sub is not None,
            generated={},
            token_buttons=(),
            submit="Apply" if sub else "Add",
            back=BASE,
        ),
    )
    response.set_status(status)
    return response


@admin_page
async def new_form(request: web.Request, session: AdminSession) -> web.StreamResponse:
    if not session.is_tenant_admin:
        return forms.admins_only()
    values = forms.shown({"events": ["*"], "enabled": True}, _fields())
    return _form(request, session, sub=None, values=values)


def _input(form: Any, base: dict[str, Any]) -> SubscriptionInput | dict[str, str]:
    try:
        return SubscriptionInput.model_validate(forms.submitted(form, _fields(), base))
    except ValidationError as exc:
        return forms.field_errors(exc)


@admin_page
async def create(request: web.Request, session: AdminSession) -> web.StreamResponse:
    if not session.is_tenant_admin:
        return forms.admins_only()
    form = await request.post()
    given = _input(form, {})
    if isinstance(given, dict):
        values = forms.echoed(form, _fields())
        return _form(request, session, sub=None, values=values, errors=given, status=400)
    secret = given.secret or "whsec_" + secrets.token_urlsafe(32)
    sub = StoredSubscription(
        id=uuid.uuid4().hex[:16],
        tenant=session.principal.tenant,
        url=given.url,
        events=given.events,
        secret=secret,
        enabled=given.enabled,
        created_at=datetime.now(UTC).isoformat(),
    )
    rt = request.app[RUNTIME]
    await rt.store.events.put(sub)
    rt.events.invalidate(sub.tenant)
    response = render_page(
        request,
        "admin/subscription_created.html",
        forms.context(session, "subscriptions", sub=_view(sub), secret=secret),
    )
    response.set_status(201)
    return response


@admin_page
async def edit_form(request: web.Request, session: AdminSession) -> web.StreamResponse:
    if not session.is_tenant_admin:
        return forms.admins_only()
    sub = await _sub(request, session)
    return _form(request, session, sub=sub, values=forms.shown(_view(sub), _fields()))


@admin_page
async def update(request: web.Request, session: AdminSession) -> web.StreamResponse:
    if not session.is_tenant_admin:
        return forms.admins_only()
    sub = await _sub(request, session)
    form = await request.post()
    given = _input(form, {"url": sub.url, "events": sub.events, "enabled": sub.enabled})
    if isinstance(given, dict):
        values = forms.echoed(form, _fields())
        return _form(request, session, sub=sub, values=values, errors=given, status=400)
    change: dict[str, Any] = {"url": given.url, "events": given.events, "enabled": given.enabled}
    if given.secret is not None:
        change["secret"] = given.secret  # rotation; still never shown back
    rt = request.app[RUNTIME]
    await rt.store.events.put(sub.model_copy(update=change))
    rt.events.invalidate(sub.tenant)
    raise web.HTTPSeeOther(BASE)


@admin_page
async def delete_form(request: web.Request, session: AdminSession) -> web.StreamResponse:
    if not session.is_tenant_admin:
        return forms.admins_only()
    sub = await _sub(request, session)
    return render_page(
        request,
        "admin/confirm.html",
        forms.context(
            session,
            "subscriptions",
            heading="Delete event subscription",
            question=f"Delete the event subscription to {sub.url}? No more events are sent to it.",
            action=f"{BASE}/{sub.id}/delete",
            submit="Delete",
            back=BASE,
            top_errors=[],
        ),
    )


@admin_page
async def delete(request: web.Request, session: AdminSession) -> web.StreamResponse:
    if not session.is_tenant_admin:
        return forms.admins_only()
    sub = await _sub(request, session)
    rt = request.app[RUNTIME]
    await rt.store.events.delete(sub.tenant, sub.id)
    rt.events.invalidate(sub.tenant)
    raise web.HTTPSeeOther(BASE)


@admin_page
async def deliveries(request: web.Request, session: AdminSession) -> web.StreamResponse:
    """The delivery log: every attempt, newest first as the store keeps them."""
    if not session.is_tenant_admin:
        return forms.admins_only()
    sub = await _sub(request, session)
    attempts = await request.app[RUNTIME].store.events.attempts(sub.tenant, sub.id)
    return render_page(
        request,
        "admin/subscription_deliveries.html",
        forms.context(session, "subscriptions", sub=_view(sub), attempts=attempts),
    )


PAGES = forms.Pages(index, new_form, create, edit_form, update, delete_form, delete)
