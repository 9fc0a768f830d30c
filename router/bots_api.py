"""``/api/v1/bot-accounts``: create, read, update, delete, Test Connection.

Secrets are write-only: responses show each secret only as set / not set, and an update that
omits a secret keeps the stored one. Each account's view carries ``remaining_calls_today``
(the daily cap's remaining calls, null while unknown). Only tenant admins manage bots.
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
from router.http_errors import error_response, json_object, validation_error
from router.keys import RUNTIME

ADMIN_ROLES = ("tenant_admin",)
_TYPES = ("lex", "lex_v1", "watson", "watson_legacy")


def _forbidden() -> web.Response:
    return error_response(403, "forbidden", "only tenant admins manage bot accounts")


def _not_found() -> web.Response:
    return error_response(404, "not_found", "no such bot account", "account_id")


async def _view(request: web.Request, account: BotAccount) -> dict[str, Any]:
    remaining = await request.app[RUNTIME].bots.remaining_calls_today(account)
    return {**account.public_view(), "remaining_calls_today": remaining}


async def _admin_account(request: web.Request) -> BotAccount | web.Response:
    who = principal_of(request)
    if who.role not in ADMIN_ROLES:
        return _forbidden()
    account = await request.app[RUNTIME].store.bots.get_in(
        who.tenant, request.match_info["account_id"]
    )
    return account if account is not None else _not_found()


async def list_accounts(request: web.Request) -> web.Response:
    who = principal_of(request)
    if who.role not in ADMIN_ROLES:
        return _forbidden()
    accounts = await request.app[RUNTIME].store.bots.list(who.tenant)
    kind = request.query.get("type")
    items = [await _view(request, a) for a in accounts if kind is None or a.type == kind]
    return web.json_response({"items": items, "total": len(items)})


async def create_account(request: web.Request) -> web.Response:
    who = principal_of(request)
    if who.role not in ADMIN_ROLES:
        return _forbidden()
    body = await json_object(request)
    if isinstance(body, web.Response):
        return body
    body = {**body, "tenant": who.tenant}
    body.setdefault("id", uuid.uuid4().hex[:16])
    return await _save(request, body, create=True)


async def _save(request: web.Request, body: dict[str, Any], *, create: bool) -> web.Response:
    try:
        account = BOT_ACCOUNT.validate_python(body)
    except ValidationError as exc:
        return validation_error(exc, _TYPES)
    try:
        await request.app[RUNTIME].store.bots.put(account, create=create)
    except ConflictError as exc:
        return error_response(409, exc.code, exc.message, "name" if "name" in exc.code else "id")
    return web.json_response(await _view(request, account), status=201 if create else 200)


async def get_account(request: web.Request) -> web.Response:
    account = await _admin_account(request)
    if isinstance(account, web.Response):
        return account
    return web.json_response(await _view(request, account))


async def update_account(request: web.Request) -> web.Response:
    account = await _admin_account(request)
    if isinstance(account, web.Response):
        return account
    body = await json_object(request)
    if isinstance(body, web.Response):
        return body
    for fixed in ("id", "type", "tenant"):
        if fixed in body and body[fixed] != getattr(account, fixed):
            return error_response(400, "invalid", f"{fixed} cannot be changed", fixed)
    current = json.loads(dump_bot_account(account))
    merged = {**current, **{k: v for k, v in body.items() if v is not None or k not in current}}
    return await _save(request, merged, create=False)


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
