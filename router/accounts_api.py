"""``/api/v1/integration-accounts``: create, read, update, delete, Test Connection, Set Webhook.

Secrets are write-only: responses show each secret only as set / not set, and an update that
omits a secret keeps the stored one. Only admins manage accounts (the roles are declared in
``router.api_routes``). A read carries the account's ``ETag``; an update with ``If-Match``
is compared and written in one store transaction (``NamedObjects.put(expected=...)``), so a
change made in between answers 412 and nothing is written.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web
from pydantic import SecretStr, ValidationError

from channels.accounts import ACCOUNT, IntegrationAccount, dump_account, random_token
from channels.base import SupportsWebhookRegistration
from router.api import principal_of
from router.errors import ConflictError
from router.etag import etag_of, json_with_etag, names_version, precondition_failed, stale
from router.http_errors import error_response, json_object, validation_error
from router.keys import RUNTIME
from router.paging import choice, page_of, paged
from router.store.named import StaleObject

TYPES = ("facebook", "whatsapp", "line", "telegram", "viber", "vonage")


def _check_stream(request: web.Request, tenant: str, account: IntegrationAccount) -> str | None:
    tenant_cfg = request.app[RUNTIME].config.tenant(tenant)
    if tenant_cfg is None or tenant_cfg.stream(account.stream) is None:
        return f"unknown media stream {account.stream!r}"
    return None


async def list_accounts(request: web.Request) -> web.Response:
    who = principal_of(request)
    page = page_of(request)
    if isinstance(page, web.Response):
        return page
    kind = choice(request, "type", TYPES)
    if isinstance(kind, web.Response):
        return kind
    accounts = await request.app[RUNTIME].store.accounts.list(who.tenant)
    return paged([a.public_view() for a in accounts if kind is None or a.type == kind], page)


async def create_account(request: web.Request) -> web.Response:
    who = principal_of(request)
    body = await json_object(request)
    if isinstance(body, web.Response):
        return body
    body = {**body, "tenant": who.tenant}
    body.setdefault("id", uuid.uuid4().hex[:16])
    return await _save(request, who.tenant, body, create=True)


async def _save(
    request: web.Request,
    tenant: str,
    body: dict[str, Any],
    *,
    create: bool,
    expected: IntegrationAccount | None = None,
) -> web.Response:
    try:
        account = ACCOUNT.validate_python(body)
    except ValidationError as exc:
        return validation_error(exc, TYPES)
    problem = _check_stream(request, tenant, account)
    if problem:
        return error_response(400, "invalid", problem, "stream")
    rt = request.app[RUNTIME]
    # Not to a stream another admin is deleting this very moment (checked with the write).
    requires = rt.conversations.streams.store.not_deleted(tenant, account.stream)
    try:
        await rt.store.accounts.put(account, create=create, expected=expected, requires=requires)
    except ConflictError as exc:
        return error_response(409, exc.code, exc.message, exc.field)
    except StaleObject:
        return stale("integration account")
    return json_with_etag(account.public_view(), status=201 if create else 200)


async def get_account(request: web.Request) -> web.Response:
    who = principal_of(request)
    account = await request.app[RUNTIME].store.accounts.get_in(
        who.tenant, request.match_info["account_id"]
    )
    if account is None:
        return error_response(404, "not_found", "no such integration account", "account_id")
    return json_with_etag(account.public_view())


async def update_account(request: web.Request) -> web.Response:
    who = principal_of(request)
    account = await request.app[RUNTIME].store.accounts.get_in(
        who.tenant, request.match_info["account_id"]
    )
    if account is None:
        return error_response(404, "not_found", "no such integration account", "account_id")
    body = await json_object(request)
    if isinstance(body, web.Response):
        return body
    blocked = precondition_failed(request, etag_of(account.public_view()))
    if blocked is not None:
        return blocked
    for fixed in ("id", "type", "tenant"):
        if fixed in body and body[fixed] != getattr(account, fixed):
            return error_response(400, "invalid", f"{fixed} cannot be changed", fixed)
    current = json.loads(dump_account(account))
    merged = {**current, **{k: v for k, v in body.items() if v is not None or k not in current}}
    checked = account if names_version(request) else None
    return await _save(request, who.tenant, merged, create=False, expected=checked)


async def delete_account(request: web.Request) -> web.Response:
    who = principal_of(request)
    deleted = await request.app[RUNTIME].store.accounts.delete(
        who.tenant, request.match_info["account_id"]
    )
    if not deleted:
        return error_response(404, "not_found", "no such integration account", "account_id")
    return web.Response(status=204)


async def test_connection(request: web.Request) -> web.Response:
    who = principal_of(request)
    rt = request.app[RUNTIME]
    account = await rt.store.accounts.get_in(who.tenant, request.match_info["account_id"])
    if account is None:
        return error_response(404, "not_found", "no such integration account", "account_id")
    check = await rt.channels.adapter(account).test_connection()
    return web.json_response(check.model_dump(mode="json"))


async def set_webhook(request: web.Request) -> web.Response:
    """Register our webhook URL with the provider (Telegram, Viber, LINE)."""
    who = principal_of(request)
    rt = request.app[RUNTIME]
    account = await rt.store.accounts.get_in(who.tenant, request.match_info["account_id"])
    if account is None:
        return error_response(404, "not_found", "no such integration account", "account_id")
    body: dict[str, Any] = {}
    if request.can_read_body:
        parsed = await json_object(request)
        if isinstance(parsed, web.Response):
            return parsed
        body = parsed
    url = body.get("url") or str(
        request.url.with_path(f"/webhooks/{account.type}/{account.id}").with_query(None)
    )
    if account.type == "telegram":
        # A fresh secret token: Telegram sends it back on every update.
        account = account.model_copy(update={"secret_token": SecretStr(random_token())})
        await rt.store.accounts.put(account, create=False)
    adapter = rt.channels.adapter(account)
    if not isinstance(adapter, SupportsWebhookRegistration):
        return error_response(400, "unsupported", f"{account.type} has no Set Webhook", "type")
    check = await adapter.set_webhook(url)
    return web.json_response({"url": url, **check.model_dump(mode="json")})


async def generate_token(request: web.Request) -> web.Response:
    """The "generate random token" button: a verify token to paste into the provider console."""
    return web.json_response({"token": random_token()})
