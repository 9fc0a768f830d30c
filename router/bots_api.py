"""``/api/v1/bot-accounts``: create, read, update, delete, Test Connection.

Secrets are write-only: responses show each secret only as set / not set, and an update that
omits a secret keeps the stored one. Each account's view carries ``remaining_calls_today``
(the daily cap's remaining calls, null while unknown). Only admins manage bots (the roles are
declared in ``router.api_routes``). A read carries the account's ``ETag``; an update with
``If-Match`` is compared and written in one store transaction, so a change made in between
answers 412 and nothing is written.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from bots.accounts import BOT_ACCOUNT, BotAccount, dump_bot_account
from bots.errors import BotError
from channels.base import CheckResult, ConnectionCheck
from router.api import principal_of
from router.errors import ConflictError
from router.etag import etag_of, names_version, precondition_failed, stale
from router.http_errors import error_response, json_object, validation_error
from router.keys import RUNTIME
from router.paging import choice, page_of
from router.store.named import StaleObject

TYPES = ("lex", "lex_v1", "watson", "watson_legacy")


def _not_found() -> web.Response:
    return error_response(404, "not_found", "no such bot account", "account_id")


async def _view(request: web.Request, account: BotAccount) -> dict[str, Any]:
    remaining = await request.app[RUNTIME].bots.remaining_calls_today(account)
    return {**account.public_view(), "remaining_calls_today": remaining}


async def _answer(request: web.Request, account: BotAccount, status: int = 200) -> web.Response:
    """The account's view; its ETag leaves out ``remaining_calls_today``, which moves with
    every bot call and is no part of what an update changes."""
    resp = web.json_response(await _view(request, account), status=status)
    resp.headers["ETag"] = etag_of(account.public_view())
    return resp


async def _admin_account(request: web.Request) -> BotAccount | web.Response:
    who = principal_of(request)
    account = await request.app[RUNTIME].store.bots.get_in(
        who.tenant, request.match_info["account_id"]
    )
    return account if account is not None else _not_found()


async def list_accounts(request: web.Request) -> web.Response:
    who = principal_of(request)
    page = page_of(request)
    if isinstance(page, web.Response):
        return page
    kind = choice(request, "type", TYPES)
    if isinstance(kind, web.Response):
        return kind
    accounts = await request.app[RUNTIME].store.bots.list(who.tenant)
    matches = [a for a in accounts if kind is None or a.type == kind]
    items = [await _view(request, a) for a in page.of(matches)]
    return web.json_response(page.body(items, len(matches)))


async def create_account(request: web.Request) -> web.Response:
    who = principal_of(request)
    body = await json_object(request)
    if isinstance(body, web.Response):
        return body
    body = {**body, "tenant": who.tenant}
    body.setdefault("id", uuid.uuid4().hex[:16])
    return await _save(request, body, create=True)


async def _save(
    request: web.Request,
    body: dict[str, Any],
    *,
    create: bool,
    expected: BotAccount | None = None,
) -> web.Response:
    try:
        account = BOT_ACCOUNT.validate_python(body)
    except ValidationError as exc:
        return validation_error(exc, TYPES)
    try:
        await request.app[RUNTIME].store.bots.put(account, create=create, expected=expected)
    except ConflictError as exc:
        return error_response(409, exc.code, exc.message, exc.field)
    except StaleObject:
        return stale("bot account")
    return await _answer(request, account, status=201 if create else 200)


async def get_account(request: web.Request) -> web.Response:
    account = await _admin_account(request)
    if isinstance(account, web.Response):
        return account
    return await _answer(request, account)


async def update_account(request: web.Request) -> web.Response:
    account = await _admin_account(request)
    if isinstance(account, web.Response):
        return account
    body = await json_object(request)
    if isinstance(body, web.Response):
        return body
    blocked = precondition_failed(request, etag_of(account.public_view()))
    if blocked is not None:
        return blocked
    for fixed in ("id", "type", "tenant"):
        if fixed in body and body[fixed] != getattr(account, fixed):
            return error_response(400, "invalid", f"{fixed} cannot be changed", fixed)
    current = json.loads(dump_bot_account(account))
    merged = {**current, **{k: v for k, v in body.items() if v is not None or k not in current}}
    checked = account if names_version(request) else None
    return await _save(request, merged, create=False, expected=checked)


async def delete_account(request: web.Request) -> web.Response:
    account = await _admin_account(request)
    if isinstance(account, web.Response):
        return account
    await request.app[RUNTIME].store.bots.delete(account.tenant, account.id)
    return web.Response(status=204)


async def test_connection(request: web.Request) -> web.Response:
    account = await _admin_account(request)
    if isinstance(account, web.Response):
        return account
    engine = request.app[RUNTIME].bots.engine(account)
    try:
        check = await engine.test_connection()
    except BotError as exc:  # e.g. the daily cap or an open breaker
        check = ConnectionCheck(result=CheckResult.UNREACHABLE, detail=str(exc))
    return web.json_response(check.model_dump(mode="json"))
