"""Console pages of users, queues, not-ready reasons and agents.

Users, queues and not-ready reasons are for tenant admins; the agents list (live state) is
for supervisors too. Forms validate with the API's own models (``router.people_models``)
and change the directory through the same functions as the API (``router.people_api``), so
a change made here reaches every process. Passwords and client secrets are write-only:
the pages show only whether one is set.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy
from pydantic import BaseModel, ValidationError

from router import people_api as people
from router.admin import forms
from router.admin.session import AdminSession, admin_page
from router.keys import RUNTIME
from router.pages import render_page
from router.people_models import (
    PRIVILEGES,
    NotReadyReasons,
    QueueChange,
    QueueInput,
    QueueView,
    UserChange,
    UserInput,
    UserView,
)
from router.runtime import Runtime
from router.store.directory import QueueRecord, UserRecord

USERS = "/admin/users"
QUEUES = "/admin/queues"
REASONS = "/admin/not-ready-reasons"
ROLE_NAMES = (
    ("agent", "Agent"),
    ("supervisor", "Supervisor"),
    ("tenant_admin", "Tenant admin"),
    ("api", "API user"),
)
USER_LABELS = {
    "username": "Username",
    "id": "Agent id",
    "client_secret": "Client secret",
    "offer_timeout_seconds": "Offer timeout (s)",
}
USER_HELP = {
    "username": "The sign-in name; an API user's client id. It cannot change later.",
    "id": "The agent id used by routing and transfers; leave blank to use the username.",
    "role": "What the user may do (see the roles in the API documentation).",
    "privileges": "Role privileges of API users.",
    "capacity": "How many conversations the agent handles at once.",
    "queues": "The queues the agent serves.",
    "skills": "Comma-separated skills that media streams may require.",
    "password": "People only: at least 8 characters.",
    "client_secret": "API users only: at least 16 characters.",
}
QUEUE_HELP = {
    "id": "Lower-case letters, digits, '.', '_' or '-'. It cannot change later.",
    "offer_timeout_seconds": "How long an agent has to accept an offer before it goes to the"
    " next agent.",
    "members": "The agents who serve this queue.",
}


def _rt(request: web.Request) -> Runtime:
    return request.app[RUNTIME]


def _split(raw: object) -> list[str]:
    return [part.strip() for part in str(raw or "").split(",") if part.strip()]


def _version(view: BaseModel | None) -> dict[str, str]:
    """The edit form's hidden inputs: the version of the object's API view (none to add)."""
    return {forms.VERSION_FIELD: forms.version_of(view.model_dump(mode="json"))} if view else {}


def _refused(refusal: people.Refusal) -> dict[str, str]:
    """A refusal of ``router.people_api`` as the form's errors (without its field prefix)."""
    return {refusal.field or "": refusal.message.split(": ", 1)[-1]}


# -- users ------------------------------------------------------------------------------------


def _user_fields(rt: Runtime, tenant: str, *, new: bool) -> list[forms.FormField]:
    names: tuple[str, ...] = ("username", "id") if new else ()
    names += ("name", "role", "privileges", "capacity", "queues", "skills", "password")
    names += ("client_secret",)
    fields = forms.fields_of(UserInput, names, labels=USER_LABELS, help=USER_HELP)
    cfg = rt.config.tenant(tenant)
    queues = tuple((q.id, q.name or q.id) for q in (cfg.queues if cfg else ()))
    kinds: dict[str, dict[str, Any]] = {
        "username": {"required": True},
        "role": {"kind": "select", "choices": ROLE_NAMES},
        "privileges": {"kind": "multi", "choices": tuple(PRIVILEGES.items())},
        "queues": {"kind": "multi", "choices": queues},
        "skills": {"kind": "text"},
        "password": {"kind": "secret", "required": False},
        "client_secret": {"kind": "secret", "required": False},
    }
    return [dataclasses.replace(f, **kinds.get(f.name, {})) for f in fields]


def _user_values(user: UserRecord) -> dict[str, Any]:
    return {
        "name": user.name,
        "role": user.role,
        "privileges": list(user.privileges),
        "capacity": str(user.capacity),
        "queues": list(user.queues),
        "skills": ", ".join(user.skills),
    }


def _user_data(
    form: MultiDictProxy[Any], fields: list[forms.FormField], base: dict[str, Any]
) -> dict[str, Any]:
    data = forms.submitted(form, fields, base)
    data["skills"] = _split(form.get("skills"))
    if not data.get("id"):
        data.pop("id", None)
    return data


async def _user(request: web.Request, session: AdminSession) -> UserRecord:
    username = request.match_info["username"]
    user = await _rt(request).directory.records.user(session.principal.tenant, username)
    if user is None:
        raise web.HTTPNotFound(text="no such user")
    return user


@forms.tenant_admin_page
async def users(request: web.Request, session: AdminSession) -> web.StreamResponse:
    rt, tenant = _rt(request), session.principal.tenant
    records = await rt.directory.records.users(tenant)
    views = [await people.user_view(rt, tenant, records[u]) for u in sorted(records)]
    return render_page(
        request,
        "admin/users.html",
        forms.context(session, "users", users=views, roles=dict(ROLE_NAMES)),
    )


def _user_form(
    request: web.Request,
    session: AdminSession,
    user: UserView | None,
    values: dict[str, Any],
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    """The form adding a user (``user`` None) or editing ``user``."""
    secret_set = user is not None and user.secret_set
    return forms.form_page(
        request,
        session,
        "users",
        status=status,
        heading=f"Edit user {user.username}" if user else "Add user",
        lead="People sign in to the agent desktop or this console; API users get tokens with"
        " the client-credentials grant.",
        action=f"{USERS}/{user.username}" if user else f"{USERS}/new",
        hidden=_version(user),
        fields=_user_fields(_rt(request), session.principal.tenant, new=user is None),
        values=values,
        errors=errors or {},
        secrets_set={"password": secret_set, "client_secret": secret_set},
        editing=user is not None,
        submit="Apply" if user else "Add",
        back=USERS,
    )


@forms.tenant_admin_page
async def new_user_form(request: web.Request, session: AdminSession) -> web.StreamResponse:
    values = {"role": "agent", "capacity": "1", "queues": [], "privileges": []}
    return _user_form(request, session, None, values)


@forms.tenant_admin_page
async def create_user(request: web.Request, session: AdminSession) -> web.StreamResponse:
    rt, tenant = _rt(request), session.principal.tenant
    form = await request.post()
    fields = _user_fields(rt, tenant, new=True)
    values = forms.echoed(form, fields)
    try:
        data = UserInput.model_validate(_user_data(form, fields, {}))
    except ValidationError as exc:
        errors = forms.field_errors(exc)
        return _user_form(request, session, None, values, errors=errors, status=400)
    user = await people.add_user(rt, tenant, data)
    if isinstance(user, people.Refusal):
        return _user_form(request, session, None, values, errors=_refused(user), status=user.status)
    raise web.HTTPSeeOther(USERS)


@forms.tenant_admin_page
async def edit_user_form(request: web.Request, session: AdminSession) -> web.StreamResponse:
    rt, tenant = _rt(request), session.principal.tenant
    user = await _user(request, session)
    view = await people.user_view(rt, tenant, user)
    return _user_form(request, session, view, _user_values(user))


@forms.tenant_admin_page
async def update_user(request: web.Request, session: AdminSession) -> web.StreamResponse:
    rt, tenant = _rt(request), session.principal.tenant
    user = await _user(request, session)
    view = await people.user_view(rt, tenant, user)
    form = await request.post()
    fields = _user_fields(rt, tenant, new=False)

    def again(errors: dict[str, str], status: int) -> web.Response:
        values = forms.echoed(form, fields)
        return _user_form(request, session, view, values, errors=errors, status=status)

    if forms.is_stale(form, view.model_dump(mode="json")):
        errors = {"": "Someone changed this user since you opened the form; reload it."}
        return again(errors, 409)
    base = user.model_dump(include=set(UserChange.model_fields))
    try:
        data = UserChange.model_validate(_user_data(form, fields, base))
    except ValidationError as exc:
        errors = forms.field_errors(exc)
        return again(errors, 400)
    updated = await people.change_user(rt, tenant, user, data)
    if isinstance(updated, people.Refusal):
        return again(_refused(updated), 400)
    raise web.HTTPSeeOther(USERS)


@forms.tenant_admin_page
async def delete_user_form(request: web.Request, session: AdminSession) -> web.StreamResponse:
    user = await _user(request, session)
    return forms.confirm_page(
        request,
        session,
        "users",
        heading="Delete user",
        question=f"Delete {user.username}? They can no longer sign in, and their tokens stop"
        " working at once.",
        action=f"{USERS}/{user.username}/delete",
        submit="Delete",
        back=USERS,
    )


@forms.tenant_admin_page
async def delete_user(request: web.Request, session: AdminSession) -> web.StreamResponse:
    rt, tenant = _rt(request), session.principal.tenant
    user = await _user(request, session)
    await people.remove_user(rt, tenant, user)
    raise web.HTTPSeeOther(USERS)


# -- queues -----------------------------------------------------------------------------------


async def _queue_fields(rt: Runtime, tenant: str, *, new: bool) -> list[forms.FormField]:
    names: tuple[str, ...] = ("id",) if new else ()
    names += ("name", "offer_timeout_seconds", "members")
    fields = forms.fields_of(QueueInput, names, labels=USER_LABELS, help=QUEUE_HELP)
    agents = await people.agents_of(rt, tenant)
    choices = tuple((a, agents[a].name or a) for a in sorted(agents))
    return [
        dataclasses.replace(f, kind="multi", choices=choices) if f.name == "members" else f
        for f in fields
    ]


async def _queue(request: web.Request, session: AdminSession) -> QueueRecord:
    queue_id = request.match_info["queue_id"]
    queues = await _rt(request).directory.records.queues(session.principal.tenant)
    if queue_id not in queues:
        raise web.HTTPNotFound(text="no such queue")
    return queues[queue_id]


@forms.tenant_admin_page
async def queues(request: web.Request, session: AdminSession) -> web.StreamResponse:
    rt, tenant = _rt(request), session.principal.tenant
    records = await rt.directory.records.queues(tenant)
    views = [await people.queue_view(rt, tenant, records[q]) for q in sorted(records)]
    return render_page(
        request, "admin/queue_list.html", forms.context(session, "queues", queues=views)
    )


async def _queue_form(
    request: web.Request,
    session: AdminSession,
    queue: QueueView | None,
    values: dict[str, Any],
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> web.Response:
    """The form adding a queue (``queue`` None) or editing ``queue``."""
    fields = await _queue_fields(_rt(request), session.principal.tenant, new=queue is None)
    return forms.form_page(
        request,
        session,
        "queues",
        status=status,
        heading=f"Edit queue {queue.id}" if queue else "Add queue",
        lead="Media streams route conversations into queues; the members take them.",
        action=f"{QUEUES}/{queue.id}" if queue else f"{QUEUES}/new",
        hidden=_version(queue),
        fields=fields,
        values=values,
        errors=errors or {},
        submit="Apply" if queue else "Add",
        back=QUEUES,
    )


@forms.tenant_admin_page
async def new_queue_form(request: web.Request, session: AdminSession) -> web.StreamResponse:
    return await _queue_form(request, session, None, {"offer_timeout_seconds": "30", "members": []})


@forms.tenant_admin_page
async def create_queue(request: web.Request, session: AdminSession) -> web.StreamResponse:
    rt, tenant = _rt(request), session.principal.tenant
    form = await request.post()
    fields = await _queue_fields(rt, tenant, new=True)
    values = forms.echoed(form, fields)
    try:
        data = QueueInput.model_validate(forms.submitted(form, fields, {}))
    except ValidationError as exc:
        errors = forms.field_errors(exc)
        return await _queue_form(request, session, None, values, errors=errors, status=400)
    if data.id in await rt.directory.records.queues(tenant):
        errors = {"id": f"queue {data.id!r} exists"}
        return await _queue_form(request, session, None, values, errors=errors, status=409)
    saved = await people.save_queue(rt, tenant, data, data.id)
    if isinstance(saved, people.Refusal):
        errors = _refused(saved)
        return await _queue_form(request, session, None, values, errors=errors, status=saved.status)
    raise web.HTTPSeeOther(QUEUES)


@forms.tenant_admin_page
async def edit_queue_form(request: web.Request, session: AdminSession) -> web.StreamResponse:
    rt, tenant = _rt(request), session.principal.tenant
    queue = await _queue(request, session)
    view = await people.queue_view(rt, tenant, queue)
    values = {
        **view.model_dump(mode="json"),
        "offer_timeout_seconds": str(queue.offer_timeout_seconds),
    }
    return await _queue_form(request, session, view, values)


@forms.tenant_admin_page
async def update_queue(request: web.Request, session: AdminSession) -> web.StreamResponse:
    rt, tenant = _rt(request), session.principal.tenant
    queue = await _queue(request, session)
    view = await people.queue_view(rt, tenant, queue)
    stored = view.model_dump(mode="json")
    form = await request.post()
    fields = await _queue_fields(rt, tenant, new=False)

    async def again(errors: dict[str, str], status: int) -> web.Response:
        values = forms.echoed(form, fields)
        return await _queue_form(request, session, view, values, errors=errors, status=status)

    if forms.is_stale(form, stored):
        errors = {"": "Someone changed this queue since you opened the form; reload it."}
        return await again(errors, 409)
    base = {k: v for k, v in stored.items() if k != "id"}
    try:
        data = QueueChange.model_validate(forms.submitted(form, fields, base))
    except ValidationError as exc:
        return await again(forms.field_errors(exc), 400)
    saved = await people.save_queue(rt, tenant, data, queue.id)
    if isinstance(saved, people.Refusal):
        return await again(_refused(saved), saved.status)
    raise web.HTTPSeeOther(QUEUES)


def _delete_queue_page(
    request: web.Request, session: AdminSession, queue: QueueRecord, error: str = ""
) -> web.Response:
    """The confirmation of deleting ``queue``; with ``error``, why it cannot be deleted now."""
    question = f"Delete the queue {queue.id}? Its agents stop serving it."
    if error:
        question = f"The queue {queue.id} cannot be deleted now."
    return forms.confirm_page(
        request,
        session,
        "queues",
        error=error,
        status=409 if error else 200,
        heading="Delete queue",
        question=question,
        action=f"{QUEUES}/{queue.id}/delete",
        submit="Delete",
        back=QUEUES,
    )


@forms.tenant_admin_page
async def delete_queue_form(request: web.Request, session: AdminSession) -> web.StreamResponse:
    return _delete_queue_page(request, session, await _queue(request, session))


@forms.tenant_admin_page
async def delete_queue(request: web.Request, session: AdminSession) -> web.StreamResponse:
    rt, tenant = _rt(request), session.principal.tenant
    queue = await _queue(request, session)
    reason = await people.queue_in_use(rt, tenant, queue.id)
    if reason is not None:
        return _delete_queue_page(request, session, queue, reason)
    await people.remove_queue(rt, tenant, queue.id)
    raise web.HTTPSeeOther(QUEUES)


# -- not-ready reasons ------------------------------------------------------------------------

_REASON_FIELDS = [
    forms.FormField(
        name="reasons",
        label="Not-ready reasons",
        kind="text",
        required=True,
        help="Comma-separated, in the order the agent desktop shows them.",
    )
]


def _reasons_form(
    request: web.Request,
    session: AdminSession,
    values: dict[str, Any],
    *,
    errors: dict[str, str] | None = None,
    notice: str = "",
    status: int = 200,
) -> web.Response:
    return forms.form_page(
        request,
        session,
        "reasons",
        status=status,
        heading="Not-ready reasons",
        lead="The reasons agents give when they go Not Ready.",
        action=REASONS,
        fields=_REASON_FIELDS,
        values=values,
        errors=errors or {},
        notice=notice,
        submit="Apply",
        back="/admin",
    )


@forms.tenant_admin_page
async def reasons_form(request: web.Request, session: AdminSession) -> web.StreamResponse:
    record = await _rt(request).directory.records.tenant(session.principal.tenant)
    reasons = record.not_ready_reasons if record else ()
    return _reasons_form(request, session, {"reasons": ", ".join(reasons)})


@forms.tenant_admin_page
async def update_reasons(request: web.Request, session: AdminSession) -> web.StreamResponse:
    rt = _rt(request)
    form = await request.post()
    values = {"reasons": str(form.get("reasons", ""))}
    try:
        data = NotReadyReasons(reasons=tuple(_split(form.get("reasons"))))
    except ValidationError as exc:
        errors = {"reasons": next(iter(forms.field_errors(exc).values()))}
        return _reasons_form(request, session, values, errors=errors, status=400)
    record = await rt.directory.records.tenant(session.principal.tenant)
    if record is None:
        raise web.HTTPNotFound(text="no such tenant")
    await rt.directory.records.put_tenant(
        record.model_copy(update={"not_ready_reasons": data.reasons})
    )
    await rt.directory.changed()
    values = {"reasons": ", ".join(data.reasons)}
    return _reasons_form(request, session, values, notice="Saved.")


# -- agents -----------------------------------------------------------------------------------


@admin_page
async def agents(request: web.Request, session: AdminSession) -> web.StreamResponse:
    """Every agent with its live state (supervisors and tenant admins)."""
    rt, tenant = _rt(request), session.principal.tenant
    records = await people.agents_of(rt, tenant)
    views = [await people.agent_view(rt, tenant, records[a]) for a in sorted(records)]
    return render_page(
        request,
        "admin/agents.html",
        forms.context(session, "agents", agents=[v for v in views if v is not None]),
    )


USER_PAGES = forms.Pages(
    users, new_user_form, create_user, edit_user_form, update_user, delete_user_form, delete_user
)
QUEUE_PAGES = forms.Pages(
    queues,
    new_queue_form,
    create_queue,
    edit_queue_form,
    update_queue,
    delete_queue_form,
    delete_queue,
)
