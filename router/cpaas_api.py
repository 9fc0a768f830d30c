"""``/api/v1/cpaas-platforms`` and ``/api/v1/alert-recipients`` (admins only; the roles are
declared in ``router.api_routes``).

Platforms: creating or updating one first checks its
credentials against the provider; on failure nothing is saved and the answer says why (400
for refused credentials, 502 when the provider cannot be reached). Secrets are write-only:
responses show only that they are set, and an update that omits one keeps it. Without an
``inbound_verification`` a platform gets a header verification with a random value (the
header goes with every number's webhook registration, nobody has to copy it). When an
update changes the verification, the webhooks of the platform's numbers are registered again.

Alert rules: a platform cannot be created while no alert recipient of the tenant has
``send_alerts`` on, and the last such recipient can be neither switched off nor deleted while
a platform exists (409, in the guide's words). The checks and the change they guard run
under one per-tenant store lock, so two admins cannot race past them.

Reads carry the object's ``ETag``. An update with ``If-Match`` is checked first, and checked
again under the same per-tenant lock right before the write, so two admins' updates cannot
both pass (a 412 writes nothing).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import web
from pydantic import SecretStr, ValidationError

from channels.accounts import random_token
from channels.base import CheckResult
from channels.cpaas import AlertRecipient, CpaasNumber, CpaasPlatform
from channels.errors import ChannelError
from channels.inteliquent import InteliquentClient
from router.api import principal_of
from router.etag import etag_of, json_with_etag, precondition_failed
from router.http_errors import error_response, json_object, validation_error
from router.keys import RUNTIME
from router.paging import page_of, paged
from router.runtime import Runtime
from router.sms_outbound import numbers_on
from router.sms_webhooks import public_base, webhook_url

DEFAULT_HEADER = "X-Switchboard-Token"
NO_ALERT_RECIPIENT = (
    "CPaaS platforms cannot be added as there are no users at the tenant level that are "
    "configured to receive alerts. These users will be notified of any issues surrounding "
    "CPaaS enablement and at least one user must be alerted."
)
LAST_ALERT_RECIPIENT = (
    "This user cannot be {done} as they are the only user account configured to receive "
    "alerts. These alerts include notifications for any issues relating to CPaaS "
    "enablement, so at least one user must be set as a recipient. Please re-enable this "
    "setting, or configure another user to receive alerts before {doing} this account."
)
PLATFORM_IN_USE = "the CPaaS number {number} uses this platform; delete its numbers first"


def _with_secrets(platform: CpaasPlatform) -> dict[str, Any]:
    data = platform.model_dump(mode="json")
    for name in platform.SECRETS:
        data[name] = getattr(platform, name).get_secret_value()
    data["inbound_verification"] = {
        k: v.get_secret_value() if isinstance(v, SecretStr) else v
        for k, v in dict(platform.inbound_verification).items()
    }
    return data


_TAGS = ("header", "message_id")  # union tags in pydantic error locations


async def _connect(rt: Runtime, platform: CpaasPlatform) -> web.Response | None:
    """None when the provider takes the credentials, else the error answer."""
    check = await InteliquentClient(platform, rt.channels.session).check_credentials()
    if check.result is CheckResult.VALID:
        return None
    status = 502 if check.result is CheckResult.UNREACHABLE else 400
    return error_response(
        status, check.result.value, f"could not connect to the CPaaS platform: {check.detail}"
    )


# -- platforms ----------------------------------------------------------------------------


async def list_platforms(request: web.Request) -> web.Response:
    who = principal_of(request)
    page = page_of(request)
    if isinstance(page, web.Response):
        return page
    platforms = await request.app[RUNTIME].store.cpaas.platforms(who.tenant)
    return paged([p.public_view() for p in platforms], page)


async def get_platform(request: web.Request) -> web.Response:
    who = principal_of(request)
    platform = await request.app[RUNTIME].store.cpaas.platform(
        who.tenant, request.match_info["platform_id"]
    )
    if platform is None:
        return error_response(404, "not_found", "no such CPaaS platform", "platform_id")
    return json_with_etag(platform.public_view())


async def create_platform(request: web.Request) -> web.Response:
    who = principal_of(request)
    body = await json_object(request)
    if isinstance(body, web.Response):
        return body
    rt = request.app[RUNTIME]
    body = {**body, "tenant": who.tenant}
    body.setdefault("id", uuid.uuid4().hex[:16])
    body.setdefault(
        "inbound_verification",
        {"mode": "header", "header_name": DEFAULT_HEADER, "header_value": random_token()},
    )
    try:
        platform = CpaasPlatform.model_validate(body)
    except ValidationError as exc:
        return validation_error(exc, _TAGS)
    if not await rt.store.cpaas.alerting(who.tenant):
        return error_response(409, "no_alert_recipient", NO_ALERT_RECIPIENT)
    problem = await _connect(rt, platform)
    if problem is not None:
        return problem
    tenants = [t.id for t in rt.config.tenants]
    async with rt.store.cpaas.lock(who.tenant):
        if not await rt.store.cpaas.alerting(who.tenant):
            return error_response(409, "no_alert_recipient", NO_ALERT_RECIPIENT)
        if await rt.store.cpaas.platform_tenant(platform.id, tenants) is not None:
            return error_response(409, "duplicate_id", "a CPaaS platform has this id", "id")
        await rt.store.cpaas.put_platform(platform)
    return json_with_etag(platform.public_view(), status=201)


def _merge(current: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The update applied to the stored platform: omitted (or null) secrets are kept, and a
    verification of the same mode without its secret keeps the stored secret."""
    merged = {**current, **{k: v for k, v in body.items() if v is not None or k not in current}}
    change = body.get("inbound_verification")
    stored = current["inbound_verification"]
    if isinstance(change, dict) and change.get("mode", stored["mode"]) == stored["mode"]:
        merged["inbound_verification"] = {
            **stored, **{k: v for k, v in change.items() if v is not None}
        }  # fmt: skip
    return merged


async def update_platform(request: web.Request) -> web.Response:
    who = principal_of(request)
    rt = request.app[RUNTIME]
    platform_id = request.match_info["platform_id"]
    current = await rt.store.cpaas.platform(who.tenant, platform_id)
    if current is None:
        return error_response(404, "not_found", "no such CPaaS platform", "platform_id")
    body = await json_object(request)
    if isinstance(body, web.Response):
        return body
    stale = precondition_failed(request, etag_of(current.public_view()))
    if stale is not None:
        return stale
    for fixed in ("id", "tenant", "type"):
        if fixed in body and body[fixed] != getattr(current, fixed):
            return error_response(400, "invalid", f"{fixed} cannot be changed", fixed)
    try:
        platform = CpaasPlatform.model_validate(_merge(_with_secrets(current), body))
    except ValidationError as exc:
        return validation_error(exc, _TAGS)
    problem = await _connect(rt, platform)
    if problem is not None:
        return problem
    async with rt.store.cpaas.lock(who.tenant):
        now = await rt.store.cpaas.platform(who.tenant, platform_id)
        if now is None:
            return error_response(404, "not_found", "no such CPaaS platform", "platform_id")
        stale = precondition_failed(request, etag_of(now.public_view()))
        if stale is not None:
            return stale
        await rt.store.cpaas.put_platform(platform)
    view = platform.public_view()
    etag = etag_of(view)
    if platform.inbound_verification != current.inbound_verification:
        url = webhook_url(public_base(request, rt.settings), platform.id)
        view["webhooks"] = await _register_again(rt, platform, url)
    resp = web.json_response(view)
    resp.headers["ETag"] = etag
    return resp


async def _register_again(rt: Runtime, platform: CpaasPlatform, url: str) -> dict[str, Any]:
    """Register the webhook of every provisioned number of ``platform`` with its new
    verification (the old registrations would carry the old proof)."""
    client = InteliquentClient(platform, rt.channels.session)
    done, failed = 0, []
    for number in await numbers_on(rt.store, platform):
        if not number.webhook_auth_id:
            continue
        with contextlib.suppress(ChannelError):  # already gone at the provider: go on
            await client.remove_webhook(number.webhook_auth_id)
        try:
            auth_id = await client.register_webhook(number.number, url)
        except ChannelError as exc:
            failed.append({"number": number.number, "error": str(exc)})
            continue
        await rt.store.inbox.update_number(platform.tenant, number.number, _with_auth(auth_id))
        done += 1
    return {"registered": done, "failed": failed}


def _with_auth(auth_id: str) -> Callable[[CpaasNumber], CpaasNumber]:
    return lambda number: number.model_copy(update={"webhook_auth_id": auth_id})


async def delete_platform(request: web.Request) -> web.Response:
    who = principal_of(request)
    rt = request.app[RUNTIME]
    platform_id = request.match_info["platform_id"]
    platform = await rt.store.cpaas.platform(who.tenant, platform_id)
    if platform is None:
        return error_response(404, "not_found", "no such CPaaS platform", "platform_id")
    in_use = await numbers_on(rt.store, platform)
    if in_use:
        message = PLATFORM_IN_USE.format(number=in_use[0].number)
        return error_response(409, "platform_in_use", message)
    await rt.store.cpaas.delete_platform(who.tenant, platform_id)
    return web.Response(status=204)


# -- alert recipients ---------------------------------------------------------------------


async def list_recipients(request: web.Request) -> web.Response:
    who = principal_of(request)
    page = page_of(request)
    if isinstance(page, web.Response):
        return page
    recipients = await request.app[RUNTIME].store.cpaas.alert_recipients(who.tenant)
    return paged([r.model_dump(mode="json") for r in recipients], page)


async def _recipient(rt: Runtime, tenant: str, recipient_id: str) -> AlertRecipient | None:
    found = await rt.store.cpaas.alert_recipients(tenant)
    return next((r for r in found if r.id == recipient_id), None)


async def create_recipient(request: web.Request) -> web.Response:
    who = principal_of(request)
    body = await json_object(request)
    if isinstance(body, web.Response):
        return body
    rt = request.app[RUNTIME]
    body = {**body, "tenant": who.tenant}
    body.setdefault("id", uuid.uuid4().hex[:16])
    try:
        recipient = AlertRecipient.model_validate(body)
    except ValidationError as exc:
        return validation_error(exc, _TAGS)
    async with rt.store.cpaas.lock(who.tenant):
        if await _recipient(rt, who.tenant, recipient.id) is not None:
            return error_response(409, "duplicate_id", "an alert recipient has this id", "id")
        await rt.store.cpaas.put_alert_recipient(recipient)
    return json_with_etag(recipient, status=201)


async def get_recipient(request: web.Request) -> web.Response:
    who = principal_of(request)
    rt = request.app[RUNTIME]
    found = await _recipient(rt, who.tenant, request.match_info["recipient_id"])
    if found is None:
        return error_response(404, "not_found", "no such alert recipient", "recipient_id")
    return json_with_etag(found)


async def update_recipient(request: web.Request) -> web.Response:
    who = principal_of(request)
    body = await json_object(request)
    if isinstance(body, web.Response):
        return body
    rt = request.app[RUNTIME]
    recipient_id = request.match_info["recipient_id"]
    for fixed in ("id", "tenant"):
        if fixed in body and body[fixed] != (recipient_id if fixed == "id" else who.tenant):
            return error_response(400, "invalid", f"{fixed} cannot be changed", fixed)
    async with rt.store.cpaas.lock(who.tenant):
        current = await _recipient(rt, who.tenant, recipient_id)
        if current is None:
            return error_response(404, "not_found", "no such alert recipient", "recipient_id")
        stale = precondition_failed(request, etag_of(current))
        if stale is not None:
            return stale
        try:
            updated = AlertRecipient.model_validate({**current.model_dump(), **body})
        except ValidationError as exc:
            return validation_error(exc, _TAGS)
        if not updated.send_alerts and await rt.store.cpaas.last_alerting(who.tenant, recipient_id):
            message = LAST_ALERT_RECIPIENT.format(done="updated", doing="updating")
            return error_response(409, "last_alert_recipient", message, "send_alerts")
        await rt.store.cpaas.put_alert_recipient(updated)
    return json_with_etag(updated)


async def delete_recipient(request: web.Request) -> web.Response:
    who = principal_of(request)
    rt = request.app[RUNTIME]
    recipient_id = request.match_info["recipient_id"]
    async with rt.store.cpaas.lock(who.tenant):
        current = await _recipient(rt, who.tenant, recipient_id)
        if current is None:
            return error_response(404, "not_found", "no such alert recipient", "recipient_id")
        if current.send_alerts and await rt.store.cpaas.last_alerting(who.tenant, recipient_id):
            message = LAST_ALERT_RECIPIENT.format(done="deleted", doing="deleting")
            return error_response(409, "last_alert_recipient", message)
        await rt.store.cpaas.delete_alert_recipient(who.tenant, recipient_id)
    return web.Response(status=204)
