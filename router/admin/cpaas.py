"""Console pages of CPaaS platforms and alert recipients: list, add, edit, delete.

Tenant admins only, with the API's rules (``router.cpaas_api``): a platform is saved only
after the provider accepted its credentials; none can be added while no alert recipient has
Send Alerts on (the Add button is then replaced by the guide's message); the last recipient
with Send Alerts can be neither switched off nor deleted while a platform exists; a platform
that numbers use cannot be deleted. The rules' checks and changes run under the tenant's
CPaaS store lock. Refusals are shown on the page (409). Secrets show only as set.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web
from pydantic import SecretStr, ValidationError

from channels.accounts import random_token
from channels.base import CheckResult
from channels.cpaas import AlertRecipient, CpaasPlatform, HeaderVerification
from channels.inteliquent import InteliquentClient
from router.admin import forms
from router.admin.session import AdminSession, admin_page
from router.cpaas_api import (
    DEFAULT_HEADER,
    LAST_ALERT_RECIPIENT,
    NO_ALERT_RECIPIENT,
    PLATFORM_IN_USE,
)
from router.keys import RUNTIME
from router.pages import render_page
from router.runtime import Runtime
from router.sms_outbound import numbers_on

BASE = "/admin/cpaas-platforms"
RECIPIENTS = "/admin/alert-recipients"
PLATFORM_FIELDS = (
    "name",
    "account_key",
    "token_secret",
    "outbound_api_key",
    "user_confirmation_required",
    "user_can_block_numbers",
    "mms_available",
    "messaging_base_url",
    "services_base_url",
)
LABELS = {
    "account_key": "Account/Key",
    "token_secret": "Token/Secret",
    "outbound_api_key": "Outbound API Key",
    "user_confirmation_required": "User Confirmation Required",
    "user_can_block_numbers": "User Can Block Numbers",
    "mms_available": "MMS Available (includes SMS)",
    "messaging_base_url": "Message Broker API URL",
    "services_base_url": "Services API URL",
    "send_alerts": "Send Alerts",
}
HELP = {
    "name": "The name of this CPaaS platform (e.g. Inteliquent).",
    "account_key": "The API Key from the provider portal's API Key page; used when"
    " provisioning numbers.",
    "token_secret": "The API Secret shown next to that API Key.",
    "outbound_api_key": "The Message Broker API key, used to send SMS and MMS.",
    "user_confirmation_required": "When on, a user given a CPaaS number is asked to confirm"
    " that they want SMS on it; a user who declines triggers an alert email. Does not apply"
    " to media streams.",
    "user_can_block_numbers": "When on, the user can block a remote party; a number's own"
    " setting overrides this.",
    "mms_available": "When off, MMS-compliant attachments go out as an SMS with a link; a"
    " number's own setting overrides this.",
    "email": "Where alert emails go.",
    "send_alerts": "Receives alerts about CPaaS enablement (e.g. an end user declined SMS on"
    " their number). At least one recipient must have this on while a platform exists.",
}


def platform_fields() -> list[forms.FormField]:
    return forms.fields_of(CpaasPlatform, PLATFORM_FIELDS, labels=LABELS, help=HELP)


def recipient_fields() -> list[forms.FormField]:
    names = ("name", "email", "send_alerts")
    return forms.fields_of(AlertRecipient, names, labels=LABELS, help=HELP)


async def _connect_problem(rt: Runtime, platform: CpaasPlatform) -> str | None:
    check = await InteliquentClient(platform, rt.channels.session).check_credentials()
    if check.result is CheckResult.VALID:
        return None
    return f"could not connect to the CPaaS platform: {check.detail}"


# -- the list of both ------------------------------------------------------------------------


@forms.tenant_admin_page
async def index(request: web.Request, session: AdminSession) -> web.StreamResponse:
    return await _list(request, session)


async def _list(
    request: web.Request, session: AdminSession, error: str = "", status: int = 200
) -> web.Response:
    rt = request.app[RUNTIME]
    tenant = session.principal.tenant
    recipients = await rt.store.cpaas.alert_recipients(tenant)
    response = render_page(
        request,
        "admin/cpaas_platforms.html",
        forms.context(
            session,
            "cpaas",
            platforms=[p.public_view() for p in await rt.store.cpaas.platforms(tenant)],
            recipients=recipients,
            can_add=any(r.send_alerts for r in recipients),
            no_alert_recipient=NO_ALERT_RECIPIENT,
            error=error,
            help=HELP,
            labels=LABELS,
        ),
    )
    response.set_status(status)
    return response


# -- platforms -------------------------------------------------------------------------------


def _platform_form(
    request: web.Request,
    session: AdminSession,
    *,
    platform: CpaasPlatform | None,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    return forms.form_page(
        request,
        session,
        "cpaas",
        status=status,
        heading=f"Edit {platform.name}" if platform else "Add CPaaS Platform",
        lead="Inteliquent CPaaS platform for SMS and MMS. The credentials are checked"
        " with the provider before anything is saved.",
        action=f"{BASE}/{platform.id}" if platform else f"{BASE}/new",
        fields=platform_fields(),
        values=values,
        errors=errors or {},
        secrets_set=platform.public_view()["secrets"] if platform else {},
        editing=platform is not None,
        submit="Update" if platform else "Add Platform",
        back=BASE,
    )


async def _platform(request: web.Request, session: AdminSession) -> CpaasPlatform:
    found = await request.app[RUNTIME].store.cpaas.platform(
        session.principal.tenant, request.match_info["platform_id"]
    )
    if found is None:
        raise web.HTTPNotFound(text="no such CPaaS platform")
    return found


@forms.tenant_admin_page
async def new_platform(request: web.Request, session: AdminSession) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    if not await rt.store.cpaas.alerting(session.principal.tenant):
        return await _list(request, session, NO_ALERT_RECIPIENT, 409)
    fields = platform_fields()
    defaults = {f.name: f.default for f in fields if f.default is not None}
    return _platform_form(request, session, platform=None, values=forms.shown(defaults, fields))


async def _validated(
    request: web.Request, session: AdminSession, current: CpaasPlatform | None
) -> CpaasPlatform | web.Response:
    form = await request.post()
    fields = platform_fields()
    base: dict[str, Any] = (
        current.model_dump()  # secrets stay SecretStr: blank inputs keep them
        if current
        else {
            "id": uuid.uuid4().hex[:16],
            "tenant": session.principal.tenant,
            "inbound_verification": HeaderVerification(
                header_name=DEFAULT_HEADER, header_value=SecretStr(random_token())
            ),
        }
    )
    values = forms.echoed(form, fields)
    try:
        platform = CpaasPlatform.model_validate(forms.submitted(form, fields, base))
    except ValidationError as exc:
        errors = forms.field_errors(exc, ("header", "message_id"))
        return _platform_form(
            request, session, platform=current, values=values, errors=errors, status=400
        )
    problem = await _connect_problem(request.app[RUNTIME], platform)
    if problem is not None:
        return _platform_form(
            request, session, platform=current, values=values, errors={"": problem}, status=400
        )
    return platform


@forms.tenant_admin_page
async def create_platform(request: web.Request, session: AdminSession) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    tenant = session.principal.tenant
    if not await rt.store.cpaas.alerting(tenant):
        return await _list(request, session, NO_ALERT_RECIPIENT, 409)
    platform = await _validated(request, session, None)
    if isinstance(platform, web.Response):
        return platform
    async with rt.store.cpaas.lock(tenant):
        if not await rt.store.cpaas.alerting(tenant):
            return await _list(request, session, NO_ALERT_RECIPIENT, 409)
        await rt.store.cpaas.put_platform(platform)
    raise web.HTTPSeeOther(BASE)


@forms.tenant_admin_page
async def edit_platform(request: web.Request, session: AdminSession) -> web.StreamResponse:
    platform = await _platform(request, session)
    values = forms.shown(platform, platform_fields())
    return _platform_form(request, session, platform=platform, values=values)


@forms.tenant_admin_page
async def update_platform(request: web.Request, session: AdminSession) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    current = await _platform(request, session)
    platform = await _validated(request, session, current)
    if isinstance(platform, web.Response):
        return platform
    async with rt.store.cpaas.lock(session.principal.tenant):
        if await rt.store.cpaas.platform(session.principal.tenant, current.id) is None:
            raise web.HTTPNotFound(text="no such CPaaS platform")
        await rt.store.cpaas.put_platform(platform)
    raise web.HTTPSeeOther(BASE)


def _confirm(
    request: web.Request,
    session: AdminSession,
    doomed: CpaasPlatform | AlertRecipient,
    *,
    error: str = "",
    status: int = 200,
) -> web.Response:
    if isinstance(doomed, CpaasPlatform):
        heading, question = "Delete Platform", f"Delete the CPaaS platform {doomed.name!r}?"
        action = f"{BASE}/{doomed.id}/delete"
    else:
        heading, question = "Delete alert recipient", f"Delete the alert recipient {doomed.email}?"
        action = f"{RECIPIENTS}/{doomed.id}/delete"
    return forms.confirm_page(
        request,
        session,
        "cpaas",
        error=error,
        status=status,
        heading=heading,
        question=question,
        action=action,
        submit="Delete",
        back=BASE,
    )


@forms.tenant_admin_page
async def delete_platform_form(request: web.Request, session: AdminSession) -> web.StreamResponse:
    return _confirm(request, session, await _platform(request, session))


@forms.tenant_admin_page
async def delete_platform(request: web.Request, session: AdminSession) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    tenant = session.principal.tenant
    platform = await _platform(request, session)
    in_use = await numbers_on(rt.store, platform)
    if in_use:
        return _confirm(
            request,
            session,
            platform,
            error=PLATFORM_IN_USE.format(number=in_use[0].number),
            status=409,
        )
    await rt.store.cpaas.delete_platform(tenant, platform.id)
    raise web.HTTPSeeOther(BASE)


# -- alert recipients ------------------------------------------------------------------------


def _recipient_form(
    request: web.Request,
    session: AdminSession,
    *,
    recipient: AlertRecipient | None,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    return forms.form_page(
        request,
        session,
        "cpaas",
        status=status,
        heading=f"Edit {recipient.name or recipient.email}" if recipient else "Add alert recipient",
        lead="Admins who receive alert emails about CPaaS enablement.",
        action=f"{RECIPIENTS}/{recipient.id}" if recipient else f"{RECIPIENTS}/new",
        fields=recipient_fields(),
        values=values,
        errors=errors or {},
        editing=recipient is not None,
        submit="Update" if recipient else "Add",
        back=BASE,
    )


async def _recipient(request: web.Request, session: AdminSession) -> AlertRecipient:
    recipient_id = request.match_info["recipient_id"]
    found = await request.app[RUNTIME].store.cpaas.alert_recipients(session.principal.tenant)
    recipient = next((r for r in found if r.id == recipient_id), None)
    if recipient is None:
        raise web.HTTPNotFound(text="no such alert recipient")
    return recipient


@forms.tenant_admin_page
async def new_recipient(request: web.Request, session: AdminSession) -> web.StreamResponse:
    fields = recipient_fields()
    return _recipient_form(
        request, session, recipient=None, values=forms.shown({"send_alerts": True}, fields)
    )


def _parse_recipient(
    form: Any, base: dict[str, Any]
) -> tuple[AlertRecipient | None, dict[str, str], dict[str, Any]]:
    fields = recipient_fields()
    try:
        return AlertRecipient.model_validate(forms.submitted(form, fields, base)), {}, {}
    except ValidationError as exc:
        return None, forms.field_errors(exc), forms.echoed(form, fields)


@forms.tenant_admin_page
async def create_recipient(request: web.Request, session: AdminSession) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    base = {"id": uuid.uuid4().hex[:16], "tenant": session.principal.tenant}
    recipient, errors, values = _parse_recipient(await request.post(), base)
    if recipient is None:
        return _recipient_form(
            request, session, recipient=None, values=values, errors=errors, status=400
        )
    async with rt.store.cpaas.lock(session.principal.tenant):
        await rt.store.cpaas.put_alert_recipient(recipient)
    raise web.HTTPSeeOther(BASE)


@forms.tenant_admin_page
async def edit_recipient(request: web.Request, session: AdminSession) -> web.StreamResponse:
    recipient = await _recipient(request, session)
    values = forms.shown(recipient, recipient_fields())
    return _recipient_form(request, session, recipient=recipient, values=values)


@forms.tenant_admin_page
async def update_recipient(request: web.Request, session: AdminSession) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    tenant = session.principal.tenant
    form = await request.post()
    async with rt.store.cpaas.lock(tenant):
        current = await _recipient(request, session)
        updated, errors, values = _parse_recipient(form, current.model_dump())
        if (
            updated is not None
            and not updated.send_alerts
            and await rt.store.cpaas.last_alerting(tenant, current.id)
        ):
            message = LAST_ALERT_RECIPIENT.format(done="updated", doing="updating")
            errors, values = {"send_alerts": message}, forms.echoed(form, recipient_fields())
            updated = None
        if updated is None:
            status = 409 if "send_alerts" in errors else 400
            return _recipient_form(
                request, session, recipient=current, values=values, errors=errors, status=status
            )
        await rt.store.cpaas.put_alert_recipient(updated)
    raise web.HTTPSeeOther(BASE)


@forms.tenant_admin_page
async def delete_recipient_form(request: web.Request, session: AdminSession) -> web.StreamResponse:
    return _confirm(request, session, await _recipient(request, session))


@forms.tenant_admin_page
async def delete_recipient(request: web.Request, session: AdminSession) -> web.StreamResponse:
    rt = request.app[RUNTIME]
    tenant = session.principal.tenant
    async with rt.store.cpaas.lock(tenant):
        recipient = await _recipient(request, session)
        if recipient.send_alerts and await rt.store.cpaas.last_alerting(tenant, recipient.id):
            return _confirm(
                request,
                session,
                recipient,
                error=LAST_ALERT_RECIPIENT.format(done="deleted", doing="deleting"),
                status=409,
            )
        await rt.store.cpaas.delete_alert_recipient(tenant, recipient.id)
    raise web.HTTPSeeOther(BASE)


@admin_page
async def recipients_index(request: web.Request, session: AdminSession) -> web.StreamResponse:
    raise web.HTTPSeeOther(BASE)  # listed with the platforms


PLATFORM_PAGES = forms.Pages(
    index,
    new_platform,
    create_platform,
    edit_platform,
    update_platform,
    delete_platform_form,
    delete_platform,
)
RECIPIENT_PAGES = forms.Pages(
    recipients_index,
    new_recipient,
    create_recipient,
    edit_recipient,
    update_recipient,
    delete_recipient_form,
    delete_recipient,
)
