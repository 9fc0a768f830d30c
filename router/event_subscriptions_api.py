"""``/api/v1/event-subscriptions``: a tenant's event-webhook subscriptions (admins; the roles
are declared in ``router.api_routes``).

The signing secret is write-only: generated when omitted, returned once in the create
response and never again (views show ``secret_set``). Changes invalidate this process's
subscription cache; other processes pick them up within ``event_bus.CACHE_TTL``.

Reads carry the subscription's ``ETag``; an update with ``If-Match`` is compared and written
in one store transaction (``EventSubscriptionStore.put(expected=...)``), so a change made in
between answers 412 and nothing is written.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from router.api import principal_of
from router.etag import etag_of, json_with_etag, names_version, precondition_failed, stale
from router.event_bus import EVENT_TYPES
from router.http_errors import error_response, json_object
from router.keys import RUNTIME
from router.paging import page_of, paged
from router.runtime import Runtime
from router.store.events import StoredSubscription
from router.store.named import StaleObject

PATH = "/api/v1/event-subscriptions"


class SubscriptionInput(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(max_length=2000)
    events: tuple[str, ...] = Field(
        min_length=1,
        max_length=len(EVENT_TYPES),
        json_schema_extra={"items": {"type": "string", "enum": [*EVENT_TYPES, "*"]}},
    )
    secret: str | None = Field(default=None, min_length=16, max_length=200)
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("events")
    @classmethod
    def _known_events(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if value == ("*",):
            return value
        unknown = [e for e in value if e not in EVENT_TYPES]
        if unknown:
            raise ValueError(
                f"unknown event type {unknown[0]!r}; use {', '.join(EVENT_TYPES)} or *"
            )
        return tuple(dict.fromkeys(value))


def subscription_view(sub: StoredSubscription) -> dict[str, Any]:
    """A subscription as the API and the console show it (the secret only as set / not)."""
    return {
        "id": sub.id,
        "url": sub.url,
        "events": list(sub.events),
        "enabled": sub.enabled,
        "secret_set": bool(sub.secret),
        "created_at": sub.created_at,
    }


def _invalid(exc: ValidationError) -> web.Response:
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"][:1]) or None
    return error_response(400, "invalid", f"{field}: {err['msg']}" if field else err["msg"], field)


async def _admin_sub(request: web.Request) -> StoredSubscription | web.Response:
    who = principal_of(request)
    sub = await request.app[RUNTIME].store.events.get(who.tenant, request.match_info["sub_id"])
    if sub is None:
        return error_response(404, "not_found", "no such event subscription", "id")
    return sub


async def list_subscriptions(request: web.Request) -> web.Response:
    who = principal_of(request)
    page = page_of(request)
    if isinstance(page, web.Response):
        return page
    subs = await request.app[RUNTIME].store.events.all(who.tenant)
    return paged([subscription_view(s) for s in subs], page)


async def add_subscription(
    rt: Runtime, tenant: str, given: SubscriptionInput
) -> tuple[StoredSubscription, str]:
    """Store a new subscription (the API and the console); returns it with its secret,
    generated when none was given."""
    secret = given.secret or "whsec_" + secrets.token_urlsafe(32)
    sub = StoredSubscription(
        id=uuid.uuid4().hex[:16], tenant=tenant, url=given.url, events=given.events,
        secret=secret, enabled=given.enabled, created_at=datetime.now(UTC).isoformat(),
    )  # fmt: skip
    await rt.store.events.put(sub)
    rt.events.invalidate(tenant)
    return sub, secret


async def change_subscription(
    rt: Runtime, sub: StoredSubscription, given: SubscriptionInput, *,
    expected: StoredSubscription | None = None,
) -> StoredSubscription:  # fmt: skip
    """Replace url, events and enabled; a given secret rotates it (still never shown back).

    With ``expected``, written only while the stored subscription still equals it (one store
    transaction): else ``StaleObject``."""
    update: dict[str, Any] = {"url": given.url, "events": given.events, "enabled": given.enabled}
    if given.secret is not None:
        update["secret"] = given.secret
    updated = sub.model_copy(update=update)
    await rt.store.events.put(updated, expected=expected)
    rt.events.invalidate(sub.tenant)
    return updated


async def remove_subscription(rt: Runtime, sub: StoredSubscription) -> None:
    await rt.store.events.delete(sub.tenant, sub.id)
    rt.events.invalidate(sub.tenant)


async def create_subscription(request: web.Request) -> web.Response:
    who = principal_of(request)
    body = await json_object(request)
    if isinstance(body, web.Response):
        return body
    try:
        given = SubscriptionInput.model_validate(body)
    except ValidationError as exc:
        return _invalid(exc)
    sub, secret = await add_subscription(request.app[RUNTIME], who.tenant, given)
    view = subscription_view(sub)
    resp = web.json_response({**view, "secret": secret}, status=201)
    resp.headers["ETag"] = etag_of(view)
    return resp


async def get_subscription(request: web.Request) -> web.Response:
    sub = await _admin_sub(request)
    return sub if isinstance(sub, web.Response) else json_with_etag(subscription_view(sub))


async def update_subscription(request: web.Request) -> web.Response:
    sub = await _admin_sub(request)
    if isinstance(sub, web.Response):
        return sub
    body = await json_object(request)
    if isinstance(body, web.Response):
        return body
    blocked = precondition_failed(request, etag_of(subscription_view(sub)))
    if blocked is not None:
        return blocked
    if "id" in body and body["id"] != sub.id:
        return error_response(400, "invalid", "id cannot be changed", "id")
    body.pop("id", None)
    current = {"url": sub.url, "events": sub.events, "enabled": sub.enabled}
    try:
        given = SubscriptionInput.model_validate({**current, **body})
    except ValidationError as exc:
        return _invalid(exc)
    rt = request.app[RUNTIME]
    checked = sub if names_version(request) else None
    try:
        updated = await change_subscription(rt, sub, given, expected=checked)
    except StaleObject:
        stored = await rt.store.events.get(sub.tenant, sub.id)
        now = None if stored is None else etag_of(subscription_view(stored))
        return stale("event subscription", now)
    return json_with_etag(subscription_view(updated))


async def delete_subscription(request: web.Request) -> web.Response:
    sub = await _admin_sub(request)
    if isinstance(sub, web.Response):
        return sub
    await remove_subscription(request.app[RUNTIME], sub)
    return web.Response(status=204)


async def list_deliveries(request: web.Request) -> web.Response:
    sub = await _admin_sub(request)
    if isinstance(sub, web.Response):
        return sub
    page = page_of(request)
    if isinstance(page, web.Response):
        return page
    attempts = await request.app[RUNTIME].store.events.attempts(sub.tenant, sub.id)
    return paged([a.model_dump(mode="json") for a in attempts], page)
