"""Console pages of event-webhook subscriptions: list, add, edit, delete, delivery log.

Tenant admins only. Forms validate with the API's ``SubscriptionInput``. The signing secret
is write-only like in the API: generated when left blank, shown once on the page that
answers the creation, and afterwards only as set; a new one typed on edit rotates it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from router.admin import forms
from router.admin.session import AdminSession
from router.event_bus import EVENT_TYPES
from router.event_subscriptions_api import (
    SubscriptionInput,
    add_subscription,
    change_subscription,
    remove_subscription,
    subscription_view,
)
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


async def _sub(request: web.Request, session: AdminSession) -> StoredSubscription:
    sub = await request.app[RUNTIME].store.events.get(
        session.principal.tenant, request.match_info["sub_id"]
    )
    if sub is None:
        raise web.HTTPNotFound(text="no such event subscription")
    return sub


@forms.tenant_admin_page
async def index(request: web.Request, session: AdminSession) -> web.StreamResponse:
    subs = await request.app[RUNTIME].store.events.all(session.principal.tenant)
    return render_page(
        request,
        "admin/event_subscriptions.html",
        forms.context(
            session, "subscriptions", subs=[subscription_view(s) for s in subs], help=HELP
        ),
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
    return forms.form_page(
        request,
        session,
        "subscriptions",
        status=status,
        heading="Edit event subscription" if sub else "Add event subscription",
        lead="Switchboard POSTs the chosen events to this URL, signed with the secret.",
        action=f"{BASE}/{sub.id}" if sub else f"{BASE}/new",
        fields=_fields(),
        values=values,
        errors=errors or {},
        secrets_set={"secret": bool(sub.secret)} if sub else {},
        editing=sub is not None,
        submit="Apply" if sub else "Add",
        back=BASE,
    )


@forms.tenant_admin_page
async def new_form(request: web.Request, session: AdminSession) -> web.StreamResponse:
    values = forms.shown({"events": ["*"], "enabled": True}, _fields())
    return _form(request, session, sub=None, values=values)


def _input(form: Any, base: dict[str, Any]) -> SubscriptionInput | dict[str, str]:
    try:
        return SubscriptionInput.model_validate(forms.submitted(form, _fields(), base))
    except ValidationError as exc:
        return forms.field_errors(exc)


@forms.tenant_admin_page
async def create(request: web.Request, session: AdminSession) -> web.StreamResponse:
    form = await request.post()
    given = _input(form, {})
    if isinstance(given, dict):
        values = forms.echoed(form, _fields())
        return _form(request, session, sub=None, values=values, errors=given, status=400)
    sub, secret = await add_subscription(request.app[RUNTIME], session.principal.tenant, given)
    response = render_page(
        request,
        "admin/subscription_created.html",
        forms.context(session, "subscriptions", sub=subscription_view(sub), secret=secret),
    )
    response.set_status(201)
    return response


@forms.tenant_admin_page
async def edit_form(request: web.Request, session: AdminSession) -> web.StreamResponse:
    sub = await _sub(request, session)
    return _form(request, session, sub=sub, values=forms.shown(subscription_view(sub), _fields()))


@forms.tenant_admin_page
async def update(request: web.Request, session: AdminSession) -> web.StreamResponse:
    sub = await _sub(request, session)
    form = await request.post()
    given = _input(form, {"url": sub.url, "events": sub.events, "enabled": sub.enabled})
    if isinstance(given, dict):
        values = forms.echoed(form, _fields())
        return _form(request, session, sub=sub, values=values, errors=given, status=400)
    await change_subscription(request.app[RUNTIME], sub, given)
    raise web.HTTPSeeOther(BASE)


@forms.tenant_admin_page
async def delete_form(request: web.Request, session: AdminSession) -> web.StreamResponse:
    sub = await _sub(request, session)
    return forms.confirm_page(
        request,
        session,
        "subscriptions",
        heading="Delete event subscription",
        question=f"Delete the event subscription to {sub.url}? No more events are sent to it.",
        action=f"{BASE}/{sub.id}/delete",
        submit="Delete",
        back=BASE,
    )


@forms.tenant_admin_page
async def delete(request: web.Request, session: AdminSession) -> web.StreamResponse:
    sub = await _sub(request, session)
    await remove_subscription(request.app[RUNTIME], sub)
    raise web.HTTPSeeOther(BASE)


@forms.tenant_admin_page
async def deliveries(request: web.Request, session: AdminSession) -> web.StreamResponse:
    """The delivery log: every attempt, newest first as the store keeps them."""
    sub = await _sub(request, session)
    attempts = await request.app[RUNTIME].store.events.attempts(sub.tenant, sub.id)
    return render_page(
        request,
        "admin/subscription_deliveries.html",
        forms.context(session, "subscriptions", sub=subscription_view(sub), attempts=attempts),
    )


PAGES = forms.Pages(index, new_form, create, edit_form, update, delete_form, delete)
