"""Console pages of bot accounts (AWS Lex, IBM Watson Assistant): list with the remaining
calls today, add, edit, delete, Test Connection.

Tenant admins only. Forms validate with the API's model (``bots.accounts.BOT_ACCOUNT``) and
save through the same store; secrets are shown only as set / not set and kept when their
input is left blank.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError

from bots.accounts import (
    BOT_ACCOUNT,
    BotAccount,
    LexAccount,
    LexV1Account,
    WatsonAccount,
    WatsonLegacyAccount,
    dump_bot_account,
)
from bots.errors import BotError
from channels.base import CheckResult, ConnectionCheck
from router.admin import forms
from router.admin.session import AdminSession, admin_page
from router.errors import ConflictError
from router.keys import RUNTIME
from router.pages import render_page
from router.store.named import StaleObject

BASE = "/admin/bot-accounts"
MODELS: dict[str, type[BaseModel]] = {
    "lex": LexAccount,
    "lex_v1": LexV1Account,
    "watson": WatsonAccount,
    "watson_legacy": WatsonLegacyAccount,
}
TYPES = {
    "lex": "AWS Lex",
    "lex_v1": "AWS Lex (V1)",
    "watson": "Watson Assistant",
    "watson_legacy": "Watson Assistant (Legacy)",
}
LABELS = {
    "max_api_calls_per_day": "Max API calls per day",
    "timeout_seconds": "Timeout (seconds)",
    "aws_account_id": "User ID",
    "bot_id": "Bot ID",
    "bot_alias_id": "Bot alias ID",
    "locale_id": "Locale ID",
    "bot_name": "Bot name",
    "bot_alias": "Bot alias",
    "access_key": "Access key",
    "secret_key": "Secret key",
    "endpoint_url": "Endpoint URL",
    "url": "Url",
    "skill_id": "Skill ID",
    "api_key": "API Key",
    "iam_url": "IAM token URL",
    "max_suggestions": "Maximum suggestions",
}
HELP = {
    "name": "The unique name of this integration account. It is helpful to have a descriptive"
    " name if your contact center uses multiple integration accounts of the same type.",
    "type": "The type of integration account.",
    "max_api_calls_per_day": "The maximum number of calls that can be done each day. This limit"
    " is here to keep your account from being charged for additional calls beyond what is"
    " included in a free account.",
    "remaining": "Calls left today under Max API calls per day (the same counter every"
    " Switchboard process uses).",
    "timeout_seconds": "A slower answer is skipped and the customer goes to an agent.",
    "aws_account_id": "Your AWS Account ID. Find it in AWS by going to My Account > Account"
    " Settings.",
    "bot_name": 'The bot name (e.g., "TripBooker"); note this may be different than an alias name.',
    "bot_alias": "The alias name (if any).",
    "bot_id": "The ID of your Lex V2 bot.",
    "bot_alias_id": "The ID of the bot alias to talk to.",
    "access_key": "The access key ID (e.g., AKIAIOSFODNN7EXAMPLE).",
    "secret_key": "The secret access key.",
    "region": "The region for your bot instance (e.g., us-west-2).",
    "url": "The API endpoint of your Watson Assistant Skill (for the legacy type, the Legacy v1"
    " Workspace URL; its version parameter is added when missing).",
    "skill_id": "The identifying number (string) of your Watson Assistant Skill.",
    "api_key": "The API Key (string) used to authenticate the service.",
    "max_suggestions": "The maximum number of suggestions (e.g., 3) that can be delivered to"
    " the Agent Desktop during active chat interactions.",
    "test": "Click this button to test the credentials and confirm that the connection is valid.",
}
_FIXED = ("id", "tenant", "type")
_TAIL = ("endpoint_url", "iam_url", "version", "timeout_seconds")


def fields_for(kind: str) -> list[forms.FormField]:
    model = MODELS[kind]
    names = [n for n in model.model_fields if n not in _FIXED and n not in _TAIL]
    names += [n for n in _TAIL if n in model.model_fields]
    return forms.fields_of(model, names, labels=LABELS, help=HELP)


async def list_page(
    request: web.Request, session: AdminSession, tested: tuple[str, ConnectionCheck] | None = None
) -> web.Response:
    rt = request.app[RUNTIME]
    rows = []
    for account in await rt.store.bots.list(session.principal.tenant):
        rows.append(
            {
                "account": account,
                "type_label": TYPES.get(account.type, account.type),
                "remaining": await rt.bots.remaining_calls_today(account),
                "secrets": account.public_view()["secrets"],
                "check": tested[1] if tested and tested[0] == account.id else None,
            }
        )
    return render_page(
        request, "admin/bot_accounts.html", forms.context(session, "bots", rows=rows, help=HELP)
    )


@admin_page
async def index(request: web.Request, session: AdminSession) -> web.StreamResponse:
    if not session.is_tenant_admin:
        return forms.admins_only()
    return await list_page(request, session)


async def _account(request: web.Request, session: AdminSession) -> BotAccount:
    account = await request.app[RUNTIME].store.bots.get_in(
        session.principal.tenant, request.match_info["account_id"]
    )
    if account is None:
        raise web.HTTPNotFound(text="no such bot account")
    return account


@admin_page
async def test_connection(request: web.Request, session: AdminSession) -> web.StreamResponse:
    if not session.is_tenant_admin:
        return forms.admins_only()
    account = await _account(request, session)
    engine = request.app[RUNTIME].bots.engine(account)
    try:
        check = await engine.test_connection()
    except BotError as exc:  # e.g. the daily cap or an open breaker
        check = ConnectionCheck(result=CheckResult.UNREACHABLE, detail=str(exc))
    return await list_page(request, session, (account.id, check))


def _form_page(
    request: web.Request,
    session: AdminSession,
    kind: str,
    *,
    account: BotAccount | None,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    fields = fields_for(kind)
    errors = errors or {}
    label = TYPES[kind]
    response = render_page(
        request,
        "admin/form.html",
        forms.context(
            session,
            "bots",
            heading=f"Edit {account.name}" if account else f"Add a {label} bot account",
            lead=f"{label} bot / chat suggestions engine account.",
            action=f"{BASE}/{account.id}" if account else f"{BASE}/new",
            hidden={forms.VERSION_FIELD: forms.version_of(account.public_view())}
            if account
            else {"type": kind},
            fields=fields,
            values=values,
            errors=errors,
            top_errors=forms.unplaced(errors, fields),
            secrets_set=account.public_view()["secrets"] if account else {},
            editing=account is not None,
            generated={},
            token_buttons=(),
            submit="Apply" if account else "Add",
            back=BASE,
        ),
    )
    response.set_status(status)
    return response


@admin_page
async def new_form(request: web.Request, session: AdminSession) -> web.StreamResponse:
    if not session.is_tenant_admin:
        return forms.admins_only()
    kind = request.query.get("type", "")
    if kind not in MODELS:
        return render_page(
            request,
            "admin/choose_type.html",
            forms.context(
                session,
                "bots",
                heading="Add a bot account",
                lead=HELP["type"],
                base=f"{BASE}/new",
                types=TYPES,
                back=BASE,
            ),
        )
    fields = fields_for(kind)
    defaults = {f.name: f.default for f in fields if f.default is not None}
    return _form_page(request, session, kind, account=None, values=forms.shown(defaults, fields))


async def _save(
    request: web.Request, session: AdminSession, kind: str, current: BotAccount | None
) -> web.StreamResponse:
    form = await request.post()
    fields = fields_for(kind)
    values = forms.echoed(form, fields)
    if current is not None and forms.is_stale(form, current.public_view()):
        return await _stale(request, session, kind, current)
    base: dict[str, Any] = (
        json.loads(dump_bot_account(current))
        if current
        else {"type": kind, "tenant": session.principal.tenant, "id": uuid.uuid4().hex[:16]}
    )
    try:
        account = BOT_ACCOUNT.validate_python(forms.submitted(form, fields, base))
    except ValidationError as exc:
        errors = forms.field_errors(exc, tuple(MODELS))
        return _form_page(
            request, session, kind, account=current, values=values, errors=errors, status=400
        )
    try:
        await request.app[RUNTIME].store.bots.put(account, create=current is None, expected=current)
    except StaleObject:
        return await _stale(request, session, kind, current)
    except ConflictError as exc:
        errors = {"name" if "name" in exc.code else "": exc.message}
        return _form_page(
            request, session, kind, account=current, values=values, errors=errors, status=409
        )
    raise web.HTTPSeeOther(BASE)


async def _stale(
    request: web.Request, session: AdminSession, kind: str, read: BotAccount | None
) -> web.Response:
    """409: the account changed since its form was read; the form shows it as stored now."""
    assert read is not None
    stored = await request.app[RUNTIME].store.bots.get_in(session.principal.tenant, read.id)
    if stored is None:
        raise web.HTTPNotFound(text="the account was deleted meanwhile")
    values = forms.shown(stored, fields_for(kind))
    return _form_page(
        request, session, kind, account=stored, values=values, errors={"": forms.STALE}, status=409
    )


@admin_page
async def create(request: web.Request, session: AdminSession) -> web.StreamResponse:
    if not session.is_tenant_admin:
        return forms.admins_only()
    kind = str((await request.post()).get("type", ""))
    if kind not in MODELS:
        raise web.HTTPBadRequest(text="type: choose one of " + ", ".join(MODELS))
    return await _save(request, session, kind, None)


@admin_page
async def edit_form(request: web.Request, session: AdminSession) -> web.StreamResponse:
    if not session.is_tenant_admin:
        return forms.admins_only()
    account = await _account(request, session)
    values = forms.shown(account, fields_for(account.type))
    return _form_page(request, session, account.type, account=account, values=values)


@admin_page
async def update(request: web.Request, session: AdminSession) -> web.StreamResponse:
    if not session.is_tenant_admin:
        return forms.admins_only()
    account = await _account(request, session)
    return await _save(request, session, account.type, account)


@admin_page
async def delete_form(request: web.Request, session: AdminSession) -> web.StreamResponse:
    if not session.is_tenant_admin:
        return forms.admins_only()
    account = await _account(request, session)
    return render_page(
        request,
        "admin/confirm.html",
        forms.context(
            session,
            "bots",
            heading="Delete bot account",
            question=f"Delete the {TYPES[account.type]} bot account {account.name!r}? Media"
            " streams using it go straight to agents.",
            action=f"{BASE}/{account.id}/delete",
            submit="Delete",
            back=BASE,
            top_errors=[],
        ),
    )


@admin_page
async def delete(request: web.Request, session: AdminSession) -> web.StreamResponse:
    if not session.is_tenant_admin:
        return forms.admins_only()
    account = await _account(request, session)
    await request.app[RUNTIME].store.bots.delete(account.tenant, account.id)
    raise web.HTTPSeeOther(BASE)


PAGES = forms.Pages(index, new_form, create, edit_form, update, delete_form, delete)
