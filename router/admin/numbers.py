"""The CPaaS numbers tab: search, add, edit, delete, Reset Opt-In State, Delete Messages.

Tenant admins only. The list shows who consumes each number (a user's personal inbox or a
media stream), its friendly name, messaging type, provisioning state and opt-in state; the
search takes ``*`` and ``?`` wildcards and adds one at each end, like ``GET /api/v1/numbers``.
Changes go through ``router.numbers.NumberService`` like the API's, so provisioning on the
provider, re-targeting and message deletion behave the same.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from channels.cpaas import (
    CpaasNumber,
    CpaasPlatform,
    NumberTarget,
    OptInState,
    UserTarget,
    normalize_us_number,
)
from channels.errors import ChannelError
from router.admin import forms
from router.admin.session import AdminSession
from router.config import TenantConfig
from router.errors import ConflictError
from router.keys import RUNTIME
from router.models import ChannelKind
from router.numbers import NotOnAccount, target_problem
from router.numbers_api import consumer_of, search_pattern
from router.pages import render_page
from router.runtime import Runtime
from router.sms_webhooks import public_base

BASE = "/admin/numbers"
PAGE_SIZE = 100
LABELS = {
    "number": "Number",
    "friendly_name": "Friendly Name",
    "messaging_type": "Messaging Type",
    "can_block": "User Can Block Numbers",
    "mms_available": "MMS Available",
    "target": "User/Media Stream",
    "platform": "Platform",
}
MESSAGING_TYPES: forms.Choices = (("sms", "SMS"), ("mms_sms", "MMS & SMS"))
HELP = {
    "number": "The SMS number, a standard ten-digit US number (a leading 1 or +1 is dropped)."
    " It must exist on the platform's CPaaS account.",
    "friendly_name": "Optional; if not set the number is used as the friendly name.",
    "messaging_type": "MMS & SMS sends MMS-compliant attachments as MMS (when the platform"
    " allows MMS); SMS sends a link instead.",
    "can_block": "Whether remote party numbers can be blocked; Platform default uses the CPaaS"
    " platform's setting.",
    "mms_available": "Whether MMS is available on this number; Platform default uses the CPaaS"
    " platform's setting.",
    "target": "The user (personal inbox) or SMS media stream that consumes this number.",
    "platform": "The CPaaS platform of this number (needed only when there are several).",
    "search": "Wildcards are automatically added when searching.",
    "pending": "Please note it may take several minutes before this number is provisioned.",
}
OPT_IN_LABELS = {
    OptInState.PENDING: "Waiting for the user",
    OptInState.ACCEPTED: "User opted-in",
    OptInState.DECLINED: "User opted-out",
    OptInState.NOT_REQUIRED: "Not required",
}


def _tenant(rt: Runtime, tenant: str) -> TenantConfig:
    cfg = rt.config.tenant(tenant)
    return cfg if cfg is not None else TenantConfig(id=tenant)


def _targets(tenant: TenantConfig) -> forms.Choices:
    users = tuple((f"user:{a.id}", f"User: {a.name or a.username}") for a in tenant.agents)
    streams = tuple(
        (f"stream:{s.id}", f"Media stream: {s.name or s.id}")
        for s in tenant.media_streams
        if s.media is ChannelKind.SMS
    )
    return (("", "—"), *users, *streams)


def _fields(tenant: TenantConfig, platforms: list[CpaasPlatform] | None) -> list[forms.FormField]:
    """The add form (``platforms`` given) or the edit form."""
    names = ("number", "friendly_name") if platforms is not None else ("friendly_name",)
    fields = forms.fields_of(
        CpaasNumber,
        (*names, "messaging_type", "can_block", "mms_available"),
        labels=LABELS,
        help=HELP,
        choices={"messaging_type": MESSAGING_TYPES},
    )
    fields.append(
        forms.FormField(
            "target", LABELS["target"], "select", True, HELP["target"], _targets(tenant)
        )
    )
    if platforms is not None and len(platforms) > 1:
        choices = (("", "—"), *((p.id, p.name) for p in platforms))
        fields.append(
            forms.FormField(
                "platform", LABELS["platform"], "select", True, HELP["platform"], choices
            )
        )
    return fields


def _target_value(target: NumberTarget) -> str:
    return f"user:{target.agent}" if isinstance(target, UserTarget) else f"stream:{target.stream}"


def _with_target(data: dict[str, Any]) -> dict[str, Any]:
    """The select's ``user:ann`` / ``stream:sms`` as the model's target object."""
    raw = data.get("target")
    if isinstance(raw, str):
        kind, _, name = raw.partition(":")
        key = "agent" if kind == "user" else "stream"
        data["target"] = {"kind": kind, key: name} if name else None
    return data


def _row(number: CpaasNumber, tenant: TenantConfig) -> dict[str, Any]:
    return {
        "number": number,
        "consumer": consumer_of(number, tenant),
        "messaging": dict(MESSAGING_TYPES)[number.messaging_type.value],
        "opt_in": OPT_IN_LABELS[number.opt_in.state],
    }


# -- the list --------------------------------------------------------------------------------


@forms.tenant_admin_page
async def index(request: web.Request, session: AdminSession) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    tenant = _tenant(rt, session.principal.tenant)
    numbers = await rt.store.cpaas.numbers(session.principal.tenant)
    query = request.query.get("search", "")
    if query.strip():
        pattern = search_pattern(query)
        numbers = [
            n
            for n in numbers
            if any(
                pattern.fullmatch(v.lower())
                for v in (n.number, n.friendly_name, consumer_of(n, tenant)["name"])
            )
        ]
    try:
        offset = max(0, int(request.query.get("offset", "0")))
    except ValueError:
        offset = 0
    return render_page(
        request,
        "admin/numbers.html",
        forms.context(
            session,
            "numbers",
            rows=[_row(n, tenant) for n in numbers[offset : offset + PAGE_SIZE]],
            total=len(numbers),
            offset=offset,
            page_size=PAGE_SIZE,
            search=query,
            help=HELP,
            labels=LABELS,
        ),
    )


# -- add -------------------------------------------------------------------------------------


def _form(
    request: web.Request,
    session: AdminSession,
    *,
    number: CpaasNumber | None,
    fields: list[forms.FormField],
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    notice: str = "",
    status: int = 200,
) -> web.Response:
    tenant = _tenant(request.app[RUNTIME], session.principal.tenant)
    return forms.form_page(
        request,
        session,
        "numbers",
        template="admin/number.html",
        status=status,
        heading=f"CPaaS number {number.number}" if number else "Add CPaaS Number",
        lead="Configure a CPaaS number to be linked to a user or an SMS media stream. "
        + HELP["pending"],
        action=f"{BASE}/{number.number}" if number else f"{BASE}/new",
        fields=fields,
        values=values,
        errors=errors or {},
        editing=number is not None,
        submit="Update" if number else "Add Number",
        back=BASE,
        row=_row(number, tenant) if number else None,
        notice=notice,
    )


@forms.tenant_admin_page
async def new_form(request: web.Request, session: AdminSession) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    platforms = await rt.store.cpaas.platforms(session.principal.tenant)
    fields = _fields(_tenant(rt, session.principal.tenant), platforms)
    values = forms.shown({"messaging_type": "sms"}, fields)
    errors = {} if platforms else {"": "the tenant has no CPaaS platform; add one first"}
    return _form(request, session, number=None, fields=fields, values=values, errors=errors)


@forms.tenant_admin_page
async def create(request: web.Request, session: AdminSession) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    who = session.principal.tenant
    tenant = _tenant(rt, who)
    platforms = await rt.store.cpaas.platforms(who)
    fields = _fields(tenant, platforms)
    form = await request.post()
    values = forms.echoed(form, fields)
    again = partial(_form, request, session, number=None, fields=fields, values=values)

    try:
        number = CpaasNumber.model_validate(
            _with_target(forms.submitted(form, fields, {"tenant": who}))
        )
    except ValidationError as exc:
        return again(errors=forms.field_errors(exc, ("user", "stream")), status=400)
    problem = target_problem(tenant, number.target)
    if problem is not None:
        return again(errors={"target": problem[0]}, status=400)
    chosen = [p for p in platforms if p.id == number.platform] if number.platform else platforms
    if len(chosen) != 1:
        message = (
            "the tenant has no CPaaS platform; add one first" if not platforms else "choose one"
        )
        return again(errors={"platform" if platforms else "": message}, status=400)
    platform = chosen[0]
    number = number.model_copy(update={"platform": platform.id})
    try:
        await rt.numbers.create(number, platform, public_base(request, rt.settings))
    except ConflictError as exc:
        return again(errors={exc.field or "number": exc.message}, status=409)
    except NotOnAccount as exc:
        return again(errors={"number": str(exc)}, status=400)
    except ChannelError as exc:
        return again(
            errors={"": f"could not check the number on the CPaaS platform: {exc}"}, status=502
        )
    raise web.HTTPSeeOther(f"{BASE}/{number.number}")


# -- one number ------------------------------------------------------------------------------


async def _number(request: web.Request, session: AdminSession) -> CpaasNumber:
    try:
        number_id = normalize_us_number(request.match_info["number"])
    except ValueError:
        raise web.HTTPNotFound(text="no such CPaaS number") from None
    found = await request.app[RUNTIME].store.cpaas.number(session.principal.tenant, number_id)
    if found is None:
        raise web.HTTPNotFound(text="no such CPaaS number")
    return found


def _shown(number: CpaasNumber, fields: list[forms.FormField]) -> dict[str, Any]:
    values = forms.shown(number, fields)
    values["target"] = _target_value(number.target)
    return values


async def _detail(
    request: web.Request,
    session: AdminSession,
    number: CpaasNumber,
    *,
    errors: dict[str, str] | None = None,
    notice: str = "",
    status: int = 200,
) -> web.Response:
    fields = _fields(_tenant(request.app[RUNTIME], session.principal.tenant), None)
    return _form(
        request,
        session,
        number=number,
        fields=fields,
        values=_shown(number, fields),
        errors=errors,
        notice=notice,
        status=status,
    )


@forms.tenant_admin_page
async def edit_form(request: web.Request, session: AdminSession) -> web.StreamResponse:
    return await _detail(request, session, await _number(request, session))


@forms.tenant_admin_page
async def update(request: web.Request, session: AdminSession) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    current = await _number(request, session)
    tenant = _tenant(rt, session.principal.tenant)
    fields = _fields(tenant, None)
    form = await request.post()
    values = forms.echoed(form, fields)
    again = partial(_form, request, session, number=current, fields=fields, values=values)

    base = current.model_dump(mode="json")
    try:
        edited = CpaasNumber.model_validate(_with_target(forms.submitted(form, fields, base)))
    except ValidationError as exc:
        return again(errors=forms.field_errors(exc, ("user", "stream")), status=400)
    problem = target_problem(tenant, edited.target)
    if edited.target != current.target and problem is not None:
        return again(errors={"target": problem[0]}, status=400)
    platform = await rt.store.cpaas.platform(session.principal.tenant, current.platform)
    try:
        await rt.numbers.update(current, edited, platform)
    except ConflictError as exc:
        return again(errors={exc.field or "": exc.message}, status=409)
    raise web.HTTPSeeOther(f"{BASE}/{current.number}")


@forms.tenant_admin_page
async def reset_opt_in(request: web.Request, session: AdminSession) -> web.StreamResponse:
    """The "Reset Opt-In State" button: the user is asked again."""
    rt = request.app[RUNTIME]
    current = await _number(request, session)
    platform = await rt.store.cpaas.platform(session.principal.tenant, current.platform)
    required = platform is not None and platform.user_confirmation_required
    if current.opt_in.state is OptInState.NOT_REQUIRED and not required:
        message = "the number's CPaaS platform does not require user confirmation"
        return await _detail(request, session, current, errors={"": message}, status=409)
    try:
        updated = await rt.personal_inbox.reset(session.principal.tenant, current.number)
    except ConflictError as exc:
        return await _detail(request, session, current, errors={"": exc.message}, status=409)
    if updated is None:
        raise web.HTTPNotFound(text="no such CPaaS number")
    notice = "Opt-in state reset: the user is asked to accept SMS on this number again."
    return await _detail(request, session, updated, notice=notice)


def _confirm(
    request: web.Request,
    session: AdminSession,
    number: CpaasNumber,
    *,
    what: str,
    error: str = "",
    status: int = 200,
) -> web.Response:
    question = {
        "delete": f"Delete the CPaaS number {number.number}? Its webhook is removed at the"
        " provider and all messages to and from this number are deleted.",
        "delete-messages": f"Delete every saved message of {number.number}? Open"
        " conversations on it are closed first.",
    }[what]
    return forms.confirm_page(
        request,
        session,
        "numbers",
        error=error,
        status=status,
        heading="Delete Number" if what == "delete" else "Delete Messages",
        question=question,
        action=f"{BASE}/{number.number}/{what}",
        submit="Delete Number" if what == "delete" else "Delete Messages",
        back=f"{BASE}/{number.number}",
    )


@forms.tenant_admin_page
async def delete_messages_form(request: web.Request, session: AdminSession) -> web.StreamResponse:
    return _confirm(request, session, await _number(request, session), what="delete-messages")


@forms.tenant_admin_page
async def delete_messages(request: web.Request, session: AdminSession) -> web.StreamResponse:
    """The "Delete Messages" button: every stored conversation on the number goes."""
    current = await _number(request, session)
    deleted = await request.app[RUNTIME].numbers.delete_messages(
        session.principal.tenant, current.number
    )
    notice = f"Deleted {deleted} saved conversation{'' if deleted == 1 else 's'}."
    return await _detail(request, session, current, notice=notice)


@forms.tenant_admin_page
async def delete_form(request: web.Request, session: AdminSession) -> web.StreamResponse:
    return _confirm(request, session, await _number(request, session), what="delete")


@forms.tenant_admin_page
async def delete(request: web.Request, session: AdminSession) -> web.StreamResponse:
    current = await _number(request, session)
    try:
        await request.app[RUNTIME].numbers.delete(session.principal.tenant, current.number)
    except ChannelError as exc:
        error = f"could not remove the number's webhook at the provider: {exc}"
        return _confirm(request, session, current, what="delete", error=error, status=502)
    raise web.HTTPSeeOther(BASE)


PAGES = forms.Pages(index, new_form, create, edit_form, update, delete_form, delete)
