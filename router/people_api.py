"""``/api/v1``: tenants (system admins), users and roles, agents, not-ready reasons, queues.

Everything here lives in the shared directory (``router.directory``): a change is stored,
announced to every process and reloaded at once by this one, so the next request anywhere
sees it. Every route is tenant-scoped by its bearer token, except ``/api/v1/tenants``; a
system admin's token of scope ``system:{tenant}`` acts on that tenant, one of scope
``system`` on none (tenant-scoped routes answer 400). Updates honour ``If-Match``.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from aiohttp import web

from router.api import principal_of
from router.directory import provision_user, refresh_credential, set_secret, sync_members
from router.etag import etag_of, json_with_etag, precondition_failed
from router.http_errors import error_response, model_body
from router.keys import RUNTIME
from router.paging import choice, page_of, paged
from router.passwords import hash_password
from router.people_models import (
    AGENT_STATES,
    ROLES,
    USER_ROLES,
    AgentChange,
    AgentView,
    NotReadyReasons,
    QueueChange,
    QueueInput,
    QueueView,
    TenantInput,
    TenantSettings,
    TenantView,
    UserChange,
    UserInput,
    UserView,
)
from router.runtime import Runtime
from router.store.base import tenant_prefix
from router.store.directory import DirectoryStore, QueueRecord, TenantRecord, UserRecord

_AGENT_ID = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")


def _rt(request: web.Request) -> Runtime:
    return request.app[RUNTIME]


def _dir(request: web.Request) -> DirectoryStore:
    return _rt(request).directory.records


def _tenant(request: web.Request) -> str | web.Response:
    """The request's tenant (its token's), or the 400 for a system-wide token."""
    tenant = principal_of(request).tenant
    if not tenant:
        return error_response(
            400,
            "no_tenant",
            "this token names no tenant: sign in with scope system:{tenant} to act on one",
        )
    return tenant


def _not_found(what: str, value: str, field: str) -> web.Response:
    return error_response(404, "not_found", f"no {what} {value!r}", field)


def _paged_views(request: web.Request, views: list[Any]) -> web.Response:
    page = page_of(request)
    if isinstance(page, web.Response):
        return page
    return paged([v.model_dump(mode="json") for v in views], page)


async def _changed(request: web.Request) -> None:
    await _rt(request).directory.changed()


# -- tenants ----------------------------------------------------------------------------------


def tenant_view(rt: Runtime, record: TenantRecord) -> TenantView:
    configured = rt.directory.file_config.tenant(record.id) is not None
    return TenantView(
        id=record.id,
        name=record.name,
        time_zone=record.time_zone,
        not_ready_reasons=record.not_ready_reasons,
        configured=configured,
    )


async def list_tenants(request: web.Request) -> web.Response:
    records = await _dir(request).tenants()
    views = [tenant_view(_rt(request), records[t]) for t in sorted(records)]
    return _paged_views(request, views)


async def _visible_tenant(request: web.Request) -> TenantRecord | web.Response:
    """The path's tenant; a tenant admin sees only their own (others answer 404)."""
    tenant_id = request.match_info["tenant_id"]
    who = principal_of(request)
    record = await _dir(request).tenant(tenant_id)
    if record is None or (who.role != "system_admin" and who.tenant != tenant_id):
        return _not_found("tenant", tenant_id, "tenant_id")
    return record


async def get_tenant(request: web.Request) -> web.Response:
    record = await _visible_tenant(request)
    if isinstance(record, web.Response):
        return record
    return json_with_etag(tenant_view(_rt(request), record))


async def create_tenant(request: web.Request) -> web.Response:
    data = await model_body(request, TenantInput)
    if isinstance(data, web.Response):
        return data
    if await _dir(request).tenant(data.id) is not None:
        return error_response(409, "conflict", f"tenant {data.id!r} exists", "id")
    record = TenantRecord(**data.model_dump())
    await _dir(request).put_tenant(record)
    await _changed(request)
    return json_with_etag(tenant_view(_rt(request), record), 201)


async def update_tenant(request: web.Request) -> web.Response:
    record = await _visible_tenant(request)
    if isinstance(record, web.Response):
        return record
    blocked = precondition_failed(request, etag_of(tenant_view(_rt(request), record)))
    if blocked is not None:
        return blocked
    data = await model_body(request, TenantSettings, record.model_dump(exclude={"id"}))
    if isinstance(data, web.Response):
        return data
    updated = TenantRecord(id=record.id, **data.model_dump())
    await _dir(request).put_tenant(updated)
    await _changed(request)
    return json_with_etag(tenant_view(_rt(request), updated))


async def _open_sessions(rt: Runtime, tenant: str) -> int:
    """How many of the tenant's sessions are not closed."""
    client = rt.store.client
    count = 0
    async for key in client.scan_iter(match=tenant_prefix(tenant) + "s:*", count=500):
        if ":" in str(key).removeprefix(tenant_prefix(tenant) + "s:"):
            continue  # not a session hash
        state = await client.hget(key, "state")
        if state is not None and state != "closed":
            count += 1
    return count


async def remove_tenant(rt: Runtime, tenant: str) -> str | None:
    """Delete a tenant with its queues and users; why not, while sessions are open."""
    live = await _open_sessions(rt, tenant)
    if live:
        return f"the tenant has {live} open session(s); close them first"
    for user in (await rt.directory.records.users(tenant)).values():
        await _sign_out(rt, tenant, user)
    for queue in await rt.directory.records.queues(tenant):
        await rt.store.set_queue_agents(tenant, queue, [])
    await rt.directory.records.delete_tenant(tenant)
    await rt.directory.changed()
    return None


async def delete_tenant(request: web.Request) -> web.Response:
    record = await _visible_tenant(request)
    if isinstance(record, web.Response):
        return record
    blocked = precondition_failed(request, etag_of(tenant_view(_rt(request), record)))
    if blocked is not None:
        return blocked
    refused = await remove_tenant(_rt(request), record.id)
    if refused is not None:
        return error_response(409, "conflict", refused)
    return web.Response(status=204)


# -- roles ------------------------------------------------------------------------------------


async def list_roles(request: web.Request) -> web.Response:
    return _paged_views(request, list(ROLES))


# -- users ------------------------------------------------------------------------------------


async def user_view(rt: Runtime, tenant: str, user: UserRecord) -> UserView:
    cred = await rt.store.get_credential(tenant, user.username)
    return UserView(
        username=user.username,
        id=user.id,
        name=user.name,
        role=user.role,
        privileges=user.privileges,
        capacity=user.capacity,
        queues=user.queues,
        skills=user.skills,
        secret_set=cred is not None,
    )


class Refusal(NamedTuple):
    """Why a change is refused: HTTP status, message, and the field at fault."""

    status: int
    message: str
    field: str | None

    def response(self) -> web.Response:
        code = {409: "conflict", 404: "not_found"}.get(self.status, "invalid")
        return error_response(self.status, code, self.message, self.field)


def _unknown_queue(rt: Runtime, tenant: str, queues: tuple[str, ...]) -> Refusal | None:
    cfg = rt.config.tenant(tenant)
    for q in queues:
        if cfg is None or cfg.queue(q) is None:
            return Refusal(400, f"queues: unknown queue {q!r}", "queues")
    return None


async def list_users(request: web.Request) -> web.Response:
    tenant = _tenant(request)
    if isinstance(tenant, web.Response):
        return tenant
    role = choice(request, "role", USER_ROLES)
    if isinstance(role, web.Response):
        return role
    queue = request.query.get("queue")
    rt = _rt(request)
    users = await _dir(request).users(tenant)
    views = [
        await user_view(rt, tenant, users[u])
        for u in sorted(users)
        if (role is None or users[u].role == role) and (queue is None or queue in users[u].queues)
    ]
    return _paged_views(request, views)


async def _user(request: web.Request) -> tuple[str, UserRecord] | web.Response:
    tenant = _tenant(request)
    if isinstance(tenant, web.Response):
        return tenant
    username = request.match_info["username"]
    user = await _dir(request).user(tenant, username)
    if user is None:
        return _not_found("user", username, "username")
    return tenant, user


async def get_user(request: web.Request) -> web.Response:
    found = await _user(request)
    if isinstance(found, web.Response):
        return found
    tenant, user = found
    return json_with_etag(await user_view(_rt(request), tenant, user))


async def save_user(
    rt: Runtime, tenant: str, user: UserRecord, secret: str | None, *, revoke: bool
) -> None:
    """Store ``user`` (and a new secret), its agent record and queue membership; ``revoke``
    ends the tokens they hold. The caller announces the change (``directory.changed``)."""
    await rt.directory.records.put_user(tenant, user)
    await provision_user(rt.store, tenant, user)
    if secret is not None:
        await set_secret(rt.store, tenant, user, hash_password(secret))
    else:
        await refresh_credential(rt.store, tenant, user)
    if revoke:
        await rt.tokens.revoke_subject(tenant, user.id)
    if user.kind == "agent":
        await sync_members(rt.store, tenant)
        for queue in user.queues:
            await rt.store.kick(tenant, queue)


def _secret(data: UserChange) -> str | None:
    value = data.password if data.role != "api" else data.client_secret
    return value.get_secret_value() if value is not None else None


async def add_user(rt: Runtime, tenant: str, data: UserInput) -> UserRecord | Refusal:
    """Create a user from a validated input, and announce it."""
    user_id = data.username if data.role == "api" else (data.id or data.username)
    if data.role != "api" and data.id is None and not _AGENT_ID.fullmatch(data.username):
        return Refusal(400, "id: give an id (the username is not a valid agent id)", "id")
    users = await rt.directory.records.users(tenant)
    if data.username in users or await rt.store.get_credential(tenant, data.username):
        return Refusal(409, f"user {data.username!r} exists", "username")
    if any(u.id == user_id for u in users.values()):
        return Refusal(409, f"id {user_id!r} is taken", "id")
    bad = _unknown_queue(rt, tenant, data.queues)
    if bad is not None:
        return bad
    user = UserRecord(
        username=data.username,
        id=user_id,
        role=data.role,
        name=data.name,
        privileges=data.privileges,
        capacity=data.capacity,
        queues=data.queues,
        skills=data.skills,
    )
    await save_user(rt, tenant, user, _secret(data), revoke=False)
    await rt.directory.changed()
    return user


async def change_user(
    rt: Runtime, tenant: str, user: UserRecord, data: UserChange
) -> UserRecord | Refusal:
    """Apply a validated change to ``user``, and announce it."""
    if (data.role == "api") != (user.role == "api"):
        return Refusal(400, "role: an API user stays an API user, a person stays a person", "role")
    bad = _unknown_queue(rt, tenant, data.queues)
    if bad is not None:
        return bad
    fields = {"name", "role", "privileges", "capacity", "queues", "skills"}
    updated = user.model_copy(update=data.model_dump(include=fields))
    changed_rights = (updated.role, updated.privileges) != (user.role, user.privileges)
    await save_user(rt, tenant, updated, _secret(data), revoke=changed_rights)
    await rt.directory.changed()
    return updated


async def create_user(request: web.Request) -> web.Response:
    tenant = _tenant(request)
    if isinstance(tenant, web.Response):
        return tenant
    rt = _rt(request)
    data = await model_body(request, UserInput)
    if isinstance(data, web.Response):
        return data
    user = await add_user(rt, tenant, data)
    if isinstance(user, Refusal):
        return user.response()
    return json_with_etag(await user_view(rt, tenant, user), 201)


async def update_user(request: web.Request) -> web.Response:
    found = await _user(request)
    if isinstance(found, web.Response):
        return found
    tenant, user = found
    rt = _rt(request)
    blocked = precondition_failed(request, etag_of(await user_view(rt, tenant, user)))
    if blocked is not None:
        return blocked
    base = user.model_dump(include=set(UserChange.model_fields))
    data = await model_body(request, UserChange, base)
    if isinstance(data, web.Response):
        return data
    updated = await change_user(rt, tenant, user, data)
    if isinstance(updated, Refusal):
        return updated.response()
    return json_with_etag(await user_view(rt, tenant, updated))


async def _sign_out(rt: Runtime, tenant: str, user: UserRecord) -> None:
    """No more sign-in for ``user`` (credential deleted) and the tokens they hold revoked."""
    await rt.store.client.delete(tenant_prefix(tenant) + "cred:" + user.username)
    await rt.tokens.revoke_subject(tenant, user.id)


async def remove_user(rt: Runtime, tenant: str, user: UserRecord) -> None:
    """Delete ``user`` (no more sign-in, tokens revoked, out of every queue), and announce it."""
    await _sign_out(rt, tenant, user)
    await rt.directory.records.delete_user(tenant, user.username)
    if user.kind == "agent":
        # Out of every queue: no new offers (conversations already assigned stay).
        await rt.store.provision_agent(
            tenant, user.id, name=user.name or user.username, capacity=user.capacity,
            queues=(), skills=(), role=user.role,
        )  # fmt: skip
        await sync_members(rt.store, tenant)
    await rt.directory.changed()


async def delete_user(request: web.Request) -> web.Response:
    found = await _user(request)
    if isinstance(found, web.Response):
        return found
    tenant, user = found
    rt = _rt(request)
    blocked = precondition_failed(request, etag_of(await user_view(rt, tenant, user)))
    if blocked is not None:
        return blocked
    await remove_user(rt, tenant, user)
    return web.Response(status=204)


# -- agents -----------------------------------------------------------------------------------


async def agent_view(rt: Runtime, tenant: str, user: UserRecord) -> AgentView | None:
    status = await rt.store.agent_status(tenant, user.id)
    if status is None:
        return None
    node = await rt.store.inbox.agent_node(tenant, user.id)
    return AgentView(
        id=user.id,
        username=user.username,
        name=user.name,
        role=user.role,
        state=status.state,
        reason=status.reason,
        load=status.load,
        capacity=status.capacity,
        queues=user.queues,
        skills=user.skills,
        connected=node is not None,
    )


async def agents_of(rt: Runtime, tenant: str) -> dict[str, UserRecord]:
    """The tenant's people (not API users) by agent id."""
    users = await rt.directory.records.users(tenant)
    return {u.id: u for u in users.values() if u.kind == "agent"}


async def list_agents(request: web.Request) -> web.Response:
    tenant = _tenant(request)
    if isinstance(tenant, web.Response):
        return tenant
    state = choice(request, "state", AGENT_STATES)
    if isinstance(state, web.Response):
        return state
    queue = request.query.get("queue")
    rt = _rt(request)
    agents = await agents_of(rt, tenant)
    views = []
    for agent_id in sorted(agents):
        view = await agent_view(rt, tenant, agents[agent_id])
        if view is None or (state is not None and view.state.value != state):
            continue
        if queue is not None and queue not in view.queues:
            continue
        views.append(view)
    return _paged_views(request, views)


async def _agent(request: web.Request) -> tuple[str, UserRecord, AgentView] | web.Response:
    tenant = _tenant(request)
    if isinstance(tenant, web.Response):
        return tenant
    agent_id = request.match_info["agent_id"]
    user = (await agents_of(_rt(request), tenant)).get(agent_id)
    view = await agent_view(_rt(request), tenant, user) if user is not None else None
    if user is None or view is None:
        return _not_found("agent", agent_id, "agent_id")
    return tenant, user, view


async def get_agent(request: web.Request) -> web.Response:
    found = await _agent(request)
    if isinstance(found, web.Response):
        return found
    return json_with_etag(found[2])


async def update_agent(request: web.Request) -> web.Response:
    found = await _agent(request)
    if isinstance(found, web.Response):
        return found
    tenant, user, view = found
    rt = _rt(request)
    blocked = precondition_failed(request, etag_of(view))
    if blocked is not None:
        return blocked
    data = await model_body(
        request, AgentChange, user.model_dump(include={"capacity", "queues", "skills"})
    )
    if isinstance(data, web.Response):
        return data
    bad = _unknown_queue(rt, tenant, data.queues)
    if bad is not None:
        return bad.response()
    updated = user.model_copy(update=data.model_dump())
    await save_user(rt, tenant, updated, None, revoke=False)
    await _changed(request)
    fresh = await agent_view(rt, tenant, updated)
    assert fresh is not None
    return json_with_etag(fresh)


# -- not-ready reasons ------------------------------------------------------------------------


async def _own_tenant(request: web.Request) -> TenantRecord | web.Response:
    """The record of the token's tenant."""
    tenant = _tenant(request)
    if isinstance(tenant, web.Response):
        return tenant
    record = await _dir(request).tenant(tenant)
    return record if record is not None else _not_found("tenant", tenant, "tenant")


async def get_reasons(request: web.Request) -> web.Response:
    record = await _own_tenant(request)
    if isinstance(record, web.Response):
        return record
    return json_with_etag(NotReadyReasons(reasons=record.not_ready_reasons))


async def put_reasons(request: web.Request) -> web.Response:
    record = await _own_tenant(request)
    if isinstance(record, web.Response):
        return record
    current = NotReadyReasons(reasons=record.not_ready_reasons)
    blocked = precondition_failed(request, etag_of(current))
    if blocked is not None:
        return blocked
    data = await model_body(request, NotReadyReasons)
    if isinstance(data, web.Response):
        return data
    await _dir(request).put_tenant(record.model_copy(update={"not_ready_reasons": data.reasons}))
    await _changed(request)
    return json_with_etag(data)


# -- queues -----------------------------------------------------------------------------------


async def queue_view(rt: Runtime, tenant: str, queue: QueueRecord) -> QueueView:
    agents = await agents_of(rt, tenant)
    members = tuple(a for a in sorted(agents) if queue.id in agents[a].queues)
    return QueueView(
        id=queue.id,
        name=queue.name,
        offer_timeout_seconds=queue.offer_timeout_seconds,
        members=members,
    )


async def _unknown_member(rt: Runtime, tenant: str, members: tuple[str, ...]) -> Refusal | None:
    """The refusal naming the first of ``members`` who is not an agent of the tenant."""
    agents = await agents_of(rt, tenant)
    unknown = [m for m in members if m not in agents]
    if not unknown:
        return None
    return Refusal(400, f"members: unknown agent {unknown[0]!r}", "members")


async def set_members(rt: Runtime, tenant: str, queue: str, members: tuple[str, ...]) -> None:
    """Make exactly ``members`` (agent ids of the tenant) serve ``queue``."""
    for agent in (await agents_of(rt, tenant)).values():
        serves = queue in agent.queues
        if serves == (agent.id in members):
            continue
        queues = (
            (*agent.queues, queue) if not serves else tuple(q for q in agent.queues if q != queue)
        )
        await save_user(rt, tenant, agent.model_copy(update={"queues": queues}), None, revoke=False)


async def save_queue(
    rt: Runtime, tenant: str, data: QueueChange, queue_id: str
) -> QueueRecord | Refusal:
    """Create or change a queue with exactly ``data.members`` serving it, and announce it;
    refused (nothing saved) when a member is not an agent of the tenant."""
    unknown = await _unknown_member(rt, tenant, data.members)
    if unknown is not None:
        return unknown
    record = QueueRecord(
        id=queue_id, name=data.name, offer_timeout_seconds=data.offer_timeout_seconds
    )
    await rt.directory.records.put_queue(tenant, record)
    await rt.directory.changed()  # the queue exists everywhere before agents serve it
    await set_members(rt, tenant, queue_id, data.members)
    await rt.directory.changed()
    return record


async def queue_in_use(rt: Runtime, tenant: str, queue: str) -> str | None:
    """Why ``queue`` cannot be deleted now (a media stream routes to it, sessions wait)."""
    cfg = rt.config.tenant(tenant)
    for stream in cfg.media_streams if cfg is not None else ():
        targets = {stream.queue, stream.escalation_queue}
        if stream.bot is not None:
            targets |= set(stream.bot.intent_queues.values())
        if queue in targets:
            return f"media stream {stream.id!r} routes to this queue"
    stats = await rt.store.queue_stats(tenant, queue)
    if stats.queue_length:
        return f"{stats.queue_length} session(s) wait in this queue"
    return None


async def remove_queue(rt: Runtime, tenant: str, queue: str) -> None:
    await set_members(rt, tenant, queue, ())
    await rt.directory.records.delete_queue(tenant, queue)
    await rt.store.set_queue_agents(tenant, queue, [])
    await rt.directory.changed()


async def list_queues(request: web.Request) -> web.Response:
    tenant = _tenant(request)
    if isinstance(tenant, web.Response):
        return tenant
    member = request.query.get("member")
    queues = await _dir(request).queues(tenant)
    views = [await queue_view(_rt(request), tenant, queues[q]) for q in sorted(queues)]
    return _paged_views(request, [v for v in views if member is None or member in v.members])


async def _queue(request: web.Request) -> tuple[str, QueueRecord] | web.Response:
    tenant = _tenant(request)
    if isinstance(tenant, web.Response):
        return tenant
    queue_id = request.match_info["queue_id"]
    queue = (await _dir(request).queues(tenant)).get(queue_id)
    if queue is None:
        return _not_found("queue", queue_id, "queue_id")
    return tenant, queue


async def get_queue(request: web.Request) -> web.Response:
    found = await _queue(request)
    if isinstance(found, web.Response):
        return found
    return json_with_etag(await queue_view(_rt(request), *found))


async def create_queue(request: web.Request) -> web.Response:
    tenant = _tenant(request)
    if isinstance(tenant, web.Response):
        return tenant
    rt = _rt(request)
    data = await model_body(request, QueueInput)
    if isinstance(data, web.Response):
        return data
    if data.id in await _dir(request).queues(tenant):
        return error_response(409, "conflict", f"queue {data.id!r} exists", "id")
    record = await save_queue(rt, tenant, data, data.id)
    if isinstance(record, Refusal):
        return record.response()
    return json_with_etag(await queue_view(rt, tenant, record), 201)


async def update_queue(request: web.Request) -> web.Response:
    found = await _queue(request)
    if isinstance(found, web.Response):
        return found
    tenant, queue = found
    rt = _rt(request)
    view = await queue_view(rt, tenant, queue)
    blocked = precondition_failed(request, etag_of(view))
    if blocked is not None:
        return blocked
    data = await model_body(request, QueueChange, view.model_dump(exclude={"id"}))
    if isinstance(data, web.Response):
        return data
    record = await save_queue(rt, tenant, data, queue.id)
    if isinstance(record, Refusal):
        return record.response()
    return json_with_etag(await queue_view(rt, tenant, record))


async def delete_queue(request: web.Request) -> web.Response:
    found = await _queue(request)
    if isinstance(found, web.Response):
        return found
    tenant, queue = found
    rt = _rt(request)
    blocked = precondition_failed(request, etag_of(await queue_view(rt, tenant, queue)))
    if blocked is not None:
        return blocked
    reason = await queue_in_use(rt, tenant, queue.id)
    if reason is not None:
        return error_response(409, "conflict", reason, "queue_id")
    await remove_queue(rt, tenant, queue.id)
    return web.Response(status=204)
