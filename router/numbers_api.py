"""``/api/v1/numbers``: the tenant's CPaaS numbers (admins only; the roles are declared in
``router.api_routes``).

A number is shown 10-digit, whatever form it was given in (``+1 201 555 0123``), with the
effective blocking / MMS settings (its overrides, else its platform's), who consumes it (the
user of a personal inbox, or the media stream) and its provisioning and opt-in states.
Another tenant's number answers 404, like a missing one; creating a number any tenant holds
answers 409. See ``router.numbers`` for provisioning and ``docs/sms.md`` ("Numbers").

Reads carry the number's ``ETag``. An update with ``If-Match`` is compared and written in
one store transaction (``InboxStore.update_number(expected=...)``), so a change made in
between (another admin, provisioning, an opt-in answer) answers 412 and nothing is written.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from channels.cpaas import (
    CpaasNumber,
    CpaasPlatform,
    OptInState,
    UserTarget,
    normalize_us_number,
)
from channels.errors import ChannelError
from router.api import principal_of
from router.auth import Principal
from router.config import TenantConfig
from router.errors import ConflictError
from router.etag import etag_of, json_with_etag, names_version, precondition_failed, stale
from router.http_errors import error_response, json_object, validation_error
from router.keys import RUNTIME
from router.numbers import EDITABLE, NotOnAccount, target_problem
from router.paging import page_of
from router.runtime import Runtime
from router.store.named import StaleObject

READ_ONLY = ("tenant", "provisioning", "provisioning_error", "webhook_auth_id", "opt_in")


def _not_found() -> web.Response:
    return error_response(404, "not_found", "no such CPaaS number", "number")


def _tenant(rt: Runtime, tenant: str) -> TenantConfig:
    cfg = rt.config.tenant(tenant)
    return cfg if cfg is not None else TenantConfig(id=tenant)


def _path_number(request: web.Request) -> str | None:
    try:
        return normalize_us_number(request.match_info["number"])
    except ValueError:
        return None


def consumer_of(number: CpaasNumber, tenant: TenantConfig) -> dict[str, str]:
    """Who uses the number: the user of its personal inbox, or its media stream."""
    target = number.target
    if isinstance(target, UserTarget):
        agent = tenant.agent(target.agent)
        name = (agent.name or agent.username) if agent else target.agent
        return {"kind": "user", "id": target.agent, "name": name}
    stream = tenant.stream(target.stream)
    return {"kind": "stream", "id": target.stream, "name": (stream.name or stream.id) if stream
            else target.stream}  # fmt: skip


def number_view(
    number: CpaasNumber, platform: CpaasPlatform | None, tenant: TenantConfig
) -> dict[str, Any]:
    view = number.model_dump(mode="json", exclude={"tenant"})
    view["effective"] = {
        "can_block": number.blocking_allowed(platform) if platform else None,
        "mms_available": number.mms_allowed(platform) if platform else None,
    }
    view["consumer"] = consumer_of(number, tenant)
    return view


_TAGS = ("user", "stream")  # union tags in pydantic error locations


async def _admin_number(
    request: web.Request,
) -> tuple[Principal, Runtime, CpaasNumber] | web.Response:
    """The tenant admin, the runtime and the number named in the path (or the error)."""
    who = principal_of(request)
    rt = request.app[RUNTIME]
    number_id = _path_number(request)
    current = await rt.store.cpaas.number(who.tenant, number_id) if number_id else None
    if current is None:
        return _not_found()
    return who, rt, current


async def _platform(rt: Runtime, tenant: str, platform_id: str) -> CpaasPlatform | web.Response:
    """The named platform, or the tenant's only one when none is named."""
    if platform_id:
        found = await rt.store.cpaas.platform(tenant, platform_id)
        if found is None:
            return error_response(
                400, "invalid", f"platform: unknown CPaaS platform {platform_id!r}", "platform"
            )
        return found
    platforms = await rt.store.cpaas.platforms(tenant)
    if len(platforms) == 1:
        return platforms[0]
    message = (
        "platform: the tenant has no CPaaS platform; create one first"
        if not platforms
        else "platform: required, the tenant has several CPaaS platforms"
    )
    return error_response(400, "invalid", message, "platform")


def _webhook_base(request: web.Request, rt: Runtime) -> str:
    """The public URL if configured (SWITCHBOARD_PUBLIC_URL), else the request's host."""
    if "public_url" in rt.settings.model_fields_set:
        return rt.settings.public_url
    return str(request.url.with_path("/").with_query(None)).rstrip("/")


# -- search -----------------------------------------------------------------------------


def search_pattern(query: str) -> re.Pattern[str]:
    """``*`` and ``?`` are wildcards; a wildcard is added at each end automatically."""
    query = query.strip().lower()
    if re.fullmatch(r"\+?1\d{10}", query):
        query = query[-10:]  # a full number with its country code
    body = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in query)
    return re.compile(f".*{body}.*", re.DOTALL)


def _matches(pattern: re.Pattern[str], number: CpaasNumber, tenant: TenantConfig) -> bool:
    fields = (number.number, number.friendly_name, consumer_of(number, tenant)["name"])
    return any(pattern.fullmatch(value.lower()) for value in fields)


# -- handlers ---------------------------------------------------------------------------


async def list_numbers(request: web.Request) -> web.Response:
    who = principal_of(request)
    page = page_of(request)
    if isinstance(page, web.Response):
        return page
    rt = request.app[RUNTIME]
    tenant = _tenant(rt, who.tenant)
    numbers = await rt.store.cpaas.numbers(who.tenant)
    query = request.query.get("search", "")
    if query.strip():
        pattern = search_pattern(query)
        numbers = [n for n in numbers if _matches(pattern, n, tenant)]
    platforms = {p.id: p for p in await rt.store.cpaas.platforms(who.tenant)}
    items = [number_view(n, platforms.get(n.platform), tenant) for n in page.of(numbers)]
    return web.json_response(page.body(items, len(numbers)))


async def create_number(request: web.Request) -> web.Response:
    who = principal_of(request)
    body = await json_object(request)
    if isinstance(body, web.Response):
        return body
    for fixed in READ_ONLY:
        if fixed in body:
            return error_response(400, "invalid", f"{fixed}: cannot be set", fixed)
    rt = request.app[RUNTIME]
    if "number" not in body:
        return error_response(400, "invalid", "number: Field required", "number")
    try:
        number = CpaasNumber.model_validate({**body, "tenant": who.tenant})
    except ValidationError as exc:
        return validation_error(exc, _TAGS)
    tenant = _tenant(rt, who.tenant)
    problem = target_problem(tenant, number.target)
    if problem is not None:
        return error_response(400, "invalid", f"{problem[1]}: {problem[0]}", problem[1])
    platform = await _platform(rt, who.tenant, number.platform)
    if isinstance(platform, web.Response):
        return platform
    number = number.model_copy(update={"platform": platform.id})
    try:
        created = await rt.numbers.create(number, platform, _webhook_base(request, rt))
    except ConflictError as exc:
        return error_response(409, exc.code, exc.message, _conflict_field(exc, "number"))
    except NotOnAccount as exc:
        return error_response(400, "not_on_account", str(exc), "number")
    except ChannelError as exc:
        return error_response(
            502, "provider_error", f"could not check the number on the CPaaS platform: {exc}"
        )
    return json_with_etag(number_view(created, platform, tenant), status=201)


async def get_number(request: web.Request) -> web.Response:
    who = principal_of(request)
    rt = request.app[RUNTIME]
    number_id = _path_number(request)
    number = await rt.store.cpaas.number(who.tenant, number_id) if number_id else None
    if number is None:
        return _not_found()
    platform = await rt.store.cpaas.platform(who.tenant, number.platform)
    return json_with_etag(number_view(number, platform, _tenant(rt, who.tenant)))


async def update_number(request: web.Request) -> web.Response:
    found = await _admin_number(request)
    if isinstance(found, web.Response):
        return found
    who, rt, current = found
    body = await json_object(request)
    if isinstance(body, web.Response):
        return body
    tenant = _tenant(rt, who.tenant)
    platform = await rt.store.cpaas.platform(who.tenant, current.platform)
    blocked = precondition_failed(request, etag_of(number_view(current, platform, tenant)))
    if blocked is not None:
        return blocked
    problem_field = _fixed_field(current, body)
    if problem_field is not None:
        known = problem_field in CpaasNumber.model_fields
        message = "cannot be changed" if known else "unknown field"
        return error_response(400, "invalid", f"{problem_field}: {message}", problem_field)
    changes = {k: v for k, v in body.items() if k in EDITABLE}
    if "friendly_name" in changes and not changes["friendly_name"]:
        changes["friendly_name"] = ""  # back to the number
    try:
        edited = CpaasNumber.model_validate({**current.model_dump(mode="json"), **changes})
    except ValidationError as exc:
        return validation_error(exc, _TAGS)
    problem = target_problem(tenant, edited.target)
    if edited.target != current.target and problem is not None:
        return error_response(400, "invalid", f"{problem[1]}: {problem[0]}", problem[1])
    checked = current if names_version(request) else None
    try:
        updated = await rt.numbers.update(current, edited, platform, expected=checked)
    except ConflictError as exc:
        return error_response(409, exc.code, exc.message, _conflict_field(exc, None))
    except StaleObject:
        stored = await rt.store.cpaas.number(who.tenant, current.number)
        now = None if stored is None else etag_of(number_view(stored, platform, tenant))
        return stale("number", now)
    return json_with_etag(number_view(updated, platform, tenant))


def _conflict_field(exc: ConflictError, otherwise: str | None) -> str | None:
    """The field a save conflict is about (the number's stream lives in its target)."""
    return f"target.{exc.field}" if exc.field else otherwise


def _fixed_field(current: CpaasNumber, body: dict[str, Any]) -> str | None:
    """The first member of a PATCH body that may not change (repeating a value is fine)."""
    for name, value in body.items():
        if name in EDITABLE or (name == "platform" and value in (None, current.platform)):
            continue
        if name == "number" and isinstance(value, str | int):
            try:
                if normalize_us_number(value) == current.number:
                    continue
            except ValueError:
                pass
        return name
    return None


async def delete_number(request: web.Request) -> web.Response:
    who = principal_of(request)
    rt = request.app[RUNTIME]
    number_id = _path_number(request)
    if number_id is None:
        return _not_found()
    try:
        deleted = await rt.numbers.delete(who.tenant, number_id)
    except ChannelError as exc:
        return error_response(
            502, "provider_error", f"could not remove the number's webhook at the provider: {exc}"
        )
    return web.Response(status=204) if deleted else _not_found()


async def reset_opt_in(request: web.Request) -> web.Response:
    """The "Reset Opt-In State" button: the user is asked again."""
    found = await _admin_number(request)
    if isinstance(found, web.Response):
        return found
    who, rt, current = found
    platform = await rt.store.cpaas.platform(who.tenant, current.platform)
    required = platform is not None and platform.user_confirmation_required
    if current.opt_in.state is OptInState.NOT_REQUIRED and not required:
        return error_response(
            409, "opt_in_not_applicable",
            "the number's CPaaS platform does not require user confirmation",
        )  # fmt: skip
    try:
        updated = await rt.personal_inbox.reset(who.tenant, current.number)
    except ConflictError as exc:
        return error_response(409, exc.code, exc.message)
    if updated is None:
        return _not_found()
    return json_with_etag(number_view(updated, platform, _tenant(rt, who.tenant)))


async def delete_messages(request: web.Request) -> web.Response:
    """The "Delete Messages" button: every stored conversation on the number goes."""
    found = await _admin_number(request)
    if isinstance(found, web.Response):
        return found
    who, rt, current = found
    deleted = await rt.numbers.delete_messages(who.tenant, current.number)
    return web.json_response({"number": current.number, "deleted_sessions": deleted})
