"""The routing adapter's commands as REST calls (docs/routing-adapter.md): route a message to
an entry point or a queue, set an agent Ready / Not Ready, and drive a web chat from an
external front end (request, accept, reject, message, choice, leave).

Each call maps onto what the channels and the agent socket already use: inbound messages go
through ``Pipeline.submit``, everything else through ``router.conversations``.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from typing import Annotated, Literal

from aiohttp import web
from pydantic import Field

from queues.base import BrokerError
from router import frames
from router.api import principal_of
from router.api_models import ApiModel
from router.config import MediaStreamConfig
from router.errors import ConflictError, NotFoundError, StoreError
from router.http_errors import error_response, model_body
from router.keys import RUNTIME
from router.limits import InboundRateLimited
from router.models import AgentState, ChannelKind, Party, Sender, SenderKind, Session, SessionState
from router.routing_adapter import ChoiceError, parse_choices, queue_entry, queue_entry_id
from router.runtime import Runtime
from router.store.base import tenant_prefix
from router.webchat import customer_message

PATH = "/api/v1/routing"
# How long a request waits for its message to be filed, to answer with the session id.
FILED_WAIT_SECONDS = 5.0

_ExternalId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[^\s]+$")]
_Text = Annotated[str, Field(min_length=1, max_length=4000)]
_Name = Annotated[str, Field(max_length=100)]
_Email = Annotated[str, Field(max_length=200)]


class RouteMessageInput(ApiModel):
    """Route Message: a message routed to an agent through an entry point or a queue."""

    entry_point: str | None = Field(default=None, description="A web chat media stream id")
    queue: str | None = Field(default=None, description="A queue id (the entry point wins)")
    text: _Text
    sender_name: _Name | None = None
    sender_email: _Email | None = None
    conversation_id: _ExternalId | None = Field(
        default=None, description="Your id of the conversation; the same id continues it"
    )
    message_id: _ExternalId | None = Field(
        default=None, description="Your id of the message; a retry with it is filed once"
    )


class WebChatRequestInput(ApiModel):
    """Request an agent for a web chat: its customer and first message."""

    entry_point: str | None = None
    queue: str | None = None
    name: Annotated[str, Field(min_length=1, max_length=100)]
    email: _Email | None = None
    text: _Text
    conversation_id: _ExternalId | None = None
    message_id: _ExternalId | None = None


class RoutedMessage(ApiModel):
    """A message accepted for routing (``session_id`` is null if it was not filed yet)."""

    session_id: str | None
    conversation_id: str
    entry_point: str
    queue: str
    message_id: str


class AgentAnswer(ApiModel):
    """Accept or reject the session's offer on behalf of this agent."""

    agent: Annotated[str, Field(min_length=1, max_length=128)]


class WebChatMessageInput(ApiModel):
    """A web chat message from the customer, or from the session's agent."""

    sender: Literal["customer", "agent"] = "customer"
    text: _Text
    message_id: _ExternalId | None = None


class WebChatChoiceInput(ApiModel):
    """Options offered to the customer, pipe-separated (``\\|`` is a literal pipe)."""

    options: Annotated[str, Field(max_length=4000)]
    text: Annotated[str, Field(max_length=4000)] | None = None


class AgentStateInput(ApiModel):
    state: Literal["ready", "not_ready"]
    reason: Annotated[str, Field(max_length=100)] | None = None


# -- helpers ----------------------------------------------------------------------------


def _entry(
    rt: Runtime, tenant: str, entry_point: str | None, queue: str | None
) -> MediaStreamConfig | web.Response:
    """The stream a routed message enters: the entry point if given, else the queue's."""
    tenant_cfg = rt.conversations.tenant(tenant)
    if entry_point is not None:
        stream = rt.conversations.streams.find(tenant, entry_point)  # current settings
        if stream is None:
            return error_response(
                400, "invalid", f"entry_point: no media stream {entry_point!r}", "entry_point"
            )
        if stream.media is not ChannelKind.WEBCHAT:
            return error_response(
                400, "invalid", "entry_point: must be a web chat media stream", "entry_point"
            )
        return stream
    if queue is not None:
        found = queue_entry(tenant_cfg, queue_entry_id(queue))
        if found is None:
            return error_response(400, "invalid", f"queue: no queue {queue!r}", "queue")
        return found
    return error_response(400, "invalid", "entry_point: give an entry_point or a queue",
                          "entry_point")  # fmt: skip


async def _filed_session(rt: Runtime, tenant: str, dedupe_key: str) -> str | None:
    """The session the message with ``dedupe_key`` was filed under, if it was (the store
    records ``sid|seq`` under the dedupe key when filing, see ``scripts/ingest.lua``)."""
    value = await rt.store.client.get(f"{tenant_prefix(tenant)}d:{dedupe_key}")
    return str(value).rsplit("|", 1)[0] if value else None


async def _submit(
    rt: Runtime, tenant: str, stream: MediaStreamConfig, party: Party, text: str,
    message_id: str | None,
) -> web.Response:  # fmt: skip
    """A customer message into the pipeline, like the web chat socket's; the 202 answer
    names the session it was filed under."""
    message_id = message_id or uuid.uuid4().hex
    message = customer_message(tenant, stream.id, party, text, message_id)
    dedupe = f"routing:{stream.id}:{party.id}:{message_id}"
    with rt.delivery.expect_filing(tenant, dedupe) as filed:
        try:
            accepted = await rt.pipeline.submit(message, dedupe_key=dedupe, report=True)
        except InboundRateLimited as exc:
            resp = error_response(429, "rate_limited", str(exc))
            resp.headers["Retry-After"] = exc.retry_after_header
            return resp
        except (BrokerError, StoreError):
            return error_response(503, "unavailable", "the system is busy, please retry")
        session_id = None  # not accepted: dropped unfiled (a blocked sender)
        if accepted:
            # The filing process reports the session; a report lost on the way (it is best
            # effort) or a filing that takes longer leaves the store to be asked once.
            with contextlib.suppress(TimeoutError):
                session_id = await asyncio.wait_for(filed, FILED_WAIT_SECONDS)
            if session_id is None:
                session_id = await _filed_session(rt, tenant, dedupe)
    body = RoutedMessage(
        session_id=session_id, conversation_id=party.id, entry_point=stream.id,
        queue=stream.queue, message_id=message_id,
    )  # fmt: skip
    return web.json_response(body.model_dump(mode="json"), status=202)


async def _route(
    request: web.Request, entry_point: str | None, queue: str | None, party: Party, text: str,
    message_id: str | None,
) -> web.Response:  # fmt: skip
    rt, who = request.app[RUNTIME], principal_of(request)
    stream = _entry(rt, who.tenant, entry_point, queue)
    if isinstance(stream, web.Response):
        return stream
    return await _submit(rt, who.tenant, stream, party, text, message_id)


async def _web_session(request: web.Request) -> Session | web.Response:
    rt, who = request.app[RUNTIME], principal_of(request)
    session = await rt.store.load_session(who.tenant, request.match_info["session_id"])
    if session is None:
        return error_response(404, "not_found", "no such session", "session_id")
    if session.channel is not ChannelKind.WEBCHAT:
        return error_response(409, "not_web_chat", "this session is not a web chat")
    return session


def _session_json(session: Session, status: int = 200) -> web.Response:
    return web.json_response(session.model_dump(mode="json"), status=status)


def _conflict(exc: ConflictError) -> web.Response:
    return error_response(409, exc.code, exc.message)


# -- route a message --------------------------------------------------------------------


async def route_message(request: web.Request) -> web.Response:
    body = await model_body(request, RouteMessageInput)
    if isinstance(body, web.Response):
        return body
    party = Party(
        id=body.conversation_id or uuid.uuid4().hex, name=body.sender_name, email=body.sender_email
    )
    return await _route(request, body.entry_point, body.queue, party, body.text, body.message_id)


# -- agent state ------------------------------------------------------------------------


async def set_agent_state(request: web.Request) -> web.Response:
    rt, who = request.app[RUNTIME], principal_of(request)
    agent = request.match_info["agent_id"]
    tenant_cfg = rt.conversations.tenant(who.tenant)
    status = await rt.store.agent_status(who.tenant, agent)
    if tenant_cfg.agent(agent) is None or status is None:
        return error_response(404, "not_found", f"no agent {agent!r}", "agent_id")
    body = await model_body(request, AgentStateInput)
    if isinstance(body, web.Response):
        return body
    if body.reason is not None:
        if body.state != "not_ready":
            return error_response(
                400, "invalid", "reason: only a not_ready state has a reason", "reason"
            )
        if body.reason not in tenant_cfg.not_ready_reasons:
            known = ", ".join(tenant_cfg.not_ready_reasons) or "none"
            return error_response(
                400, "invalid", f"reason: not one of the tenant's reasons ({known})", "reason"
            )
    if status.state is AgentState.LOGGED_OUT:
        return error_response(409, "logged_out", f"agent {agent!r} is not logged on")
    node = await rt.store.inbox.agent_node(who.tenant, agent)
    await rt.conversations.set_state(who.tenant, agent, AgentState(body.state), body.reason,
                                     node=node)  # fmt: skip
    changed = await rt.store.agent_status(who.tenant, agent)
    assert changed is not None
    return web.json_response(changed.model_dump(mode="json"))


# -- web chat ---------------------------------------------------------------------------


async def request_web_chat(request: web.Request) -> web.Response:
    body = await model_body(request, WebChatRequestInput)
    if isinstance(body, web.Response):
        return body
    party = Party(id=body.conversation_id or uuid.uuid4().hex, name=body.name, email=body.email)
    return await _route(request, body.entry_point, body.queue, party, body.text, body.message_id)


async def _answer_offer(request: web.Request, *, accept: bool) -> web.Response:
    rt, who = request.app[RUNTIME], principal_of(request)
    session = await _web_session(request)
    if isinstance(session, web.Response):
        return session
    body = await model_body(request, AgentAnswer)
    if isinstance(body, web.Response):
        return body
    if rt.conversations.tenant(who.tenant).agent(body.agent) is None:
        return error_response(404, "not_found", f"no agent {body.agent!r}", "agent")
    offer = session.offer
    if session.state is not SessionState.OFFERED or offer is None or offer.agent != body.agent:
        return error_response(
            409, "offer_not_available", "this session is not offered to this agent"
        )
    try:
        if accept:
            node = await rt.store.inbox.agent_node(who.tenant, body.agent)
            await rt.conversations.accept(who.tenant, body.agent, session.id, offer.id, node=node)
        else:
            await rt.conversations.reject(who.tenant, body.agent, session.id, offer.id)
    except ConflictError as exc:
        return _conflict(exc)
    return _session_json(await rt.conversations.session(who.tenant, session.id))


async def accept_web_chat(request: web.Request) -> web.Response:
    return await _answer_offer(request, accept=True)


async def reject_web_chat(request: web.Request) -> web.Response:
    return await _answer_offer(request, accept=False)


async def _send_outbound(
    rt: Runtime, session: Session, *, text: str | None, choices: tuple[str, ...],
    client_id: str | None, agent_only: bool,
) -> web.Response:  # fmt: skip
    """File a message to the customer from the session's agent (or, if ``agent_only`` is
    off and nobody is assigned, from the entry point itself)."""
    tenant = session.tenant
    assigned = session.agent if session.state is SessionState.ASSIGNED else None
    if assigned is None and agent_only:
        return error_response(409, "not_assigned", "no agent is assigned to this session")
    if assigned is not None:
        agent_cfg = rt.conversations.tenant(tenant).agent(assigned)
        name = (agent_cfg.name or agent_cfg.username) if agent_cfg else assigned
        sender = Sender(kind=SenderKind.AGENT, id=assigned, name=name)
    else:
        stream = rt.conversations.filed_stream(tenant, session.stream)
        sender = Sender(kind=SenderKind.SYSTEM, name=stream.name or stream.id)
    try:
        filed = await rt.conversations.send(
            tenant, session.id, sender=sender, text=text, choices=choices, client_id=client_id
        )
    except ConflictError as exc:
        return _conflict(exc)
    if assigned is not None:  # the agent's desktop shows what was written on its behalf
        node = await rt.store.inbox.agent_node(tenant, assigned)
        await rt.delivery.frame_to_agent(
            tenant, assigned, node, frames.message_frame(filed, client_id)
        )
    return web.json_response(filed.model_dump(mode="json"), status=201)


async def web_chat_message(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    session = await _web_session(request)
    if isinstance(session, web.Response):
        return session
    body = await model_body(request, WebChatMessageInput)
    if isinstance(body, web.Response):
        return body
    if body.sender == "agent":
        return await _send_outbound(
            rt, session, text=body.text, choices=(), client_id=body.message_id, agent_only=True
        )
    stream = rt.conversations.stream(session.tenant, session.stream)
    return await _submit(
        rt, session.tenant, stream, session.remote_party, body.text, body.message_id
    )


async def web_chat_choice(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    session = await _web_session(request)
    if isinstance(session, web.Response):
        return session
    body = await model_body(request, WebChatChoiceInput)
    if isinstance(body, web.Response):
        return body
    try:
        choices = parse_choices(body.options)
    except ChoiceError as exc:
        return error_response(400, "invalid", f"options: {exc}", "options")
    return await _send_outbound(
        rt, session, text=body.text, choices=choices, client_id=None, agent_only=False
    )


async def leave_web_chat(request: web.Request) -> web.Response:
    rt, who = request.app[RUNTIME], principal_of(request)
    session = await _web_session(request)
    if isinstance(session, web.Response):
        return session
    try:
        await rt.conversations.close(who.tenant, session.id, reason="customer")
    except NotFoundError:
        return error_response(404, "not_found", "no such session", "session_id")
    return web.Response(status=204)
