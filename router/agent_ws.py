"""The agent WebSocket ``/agent/ws``: see ``docs/agent-protocol.md``."""

from __future__ import annotations

import logging

from aiohttp import WSMsgType, web

from queues.base import BrokerError
from router import frames, logs
from router.auth import Principal, bearer
from router.errors import ConflictError, NotFoundError, StoreError
from router.events import NodeFrame
from router.frames import (
    Accept,
    Block,
    Close,
    Command,
    Escalate,
    FrameError,
    OptInAnswer,
    RejectOffer,
    Send,
    SetState,
    Transfer,
)
from router.keys import RUNTIME
from router.limits import FrameRate, ws_error, ws_frame_allowed
from router.models import AgentState, Sender, SenderKind, SessionState
from router.runtime import PRESENCE_TTL, Runtime

log = logging.getLogger(__name__)
MAX_FRAME = 64 * 1024
CLOSE_BAD_TOKEN = 4401


async def agent_socket(request: web.Request) -> web.WebSocketResponse:
    rt = request.app[RUNTIME]
    principal = await rt.tokens.resolve(bearer(request))
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=MAX_FRAME)
    await ws.prepare(request)
    if principal is None or principal.role == "api":
        await ws.send_str(frames.error_frame("unauthorized", "invalid or expired token"))
        await ws.close(code=CLOSE_BAD_TOKEN, message=b"invalid or expired token")
        return ws
    tenant, agent = principal.tenant, principal.subject
    rt.sockets.add_agent(tenant, agent, principal.role, ws)
    try:
        await _open(rt, principal, ws)
        rate = FrameRate(rt.settings.agent_ws_frames_per_second)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                if not await ws_frame_allowed(rt.metrics, ws, rate, "agent_ws"):
                    continue
                with logs.bound(logs.new_correlation_id(), tenant=tenant):
                    await _dispatch(rt, principal, ws, msg.data)
            elif msg.type == WSMsgType.ERROR:
                ws_error(rt.metrics, msg, "agent_ws")
            elif msg.type == WSMsgType.BINARY:
                await ws.send_str(frames.error_frame("malformed", "binary frames are not accepted"))
    finally:
        if rt.sockets.remove_agent(tenant, agent, ws):
            try:
                await rt.store.clear_presence(tenant, agent, rt.settings.node_id)
            except StoreError:
                log.debug("could not clear presence", exc_info=True)
    return ws


async def _open(rt: Runtime, principal: Principal, ws: web.WebSocketResponse) -> None:
    tenant, agent = principal.tenant, principal.subject
    tenant_cfg = rt.conversations.tenant(tenant)
    agent_cfg = tenant_cfg.agent(agent)
    await rt.store.set_presence(tenant, agent, rt.settings.node_id, PRESENCE_TTL)
    status = await rt.store.agent_status(tenant, agent)
    if status is None or agent_cfg is None:
        await ws.close(code=CLOSE_BAD_TOKEN, message=b"unknown agent")
        return
    await ws.send_str(
        frames.dumps(
            {
                "type": "hello",
                "agent": {
                    "id": agent,
                    "name": agent_cfg.name or agent_cfg.username,
                    "tenant": tenant,
                    "capacity": status.capacity,
                    "role": principal.role,
                },
                "not_ready_reasons": list(tenant_cfg.not_ready_reasons),
                "queues": list(agent_cfg.queues),
                # Numbers waiting for this user's SMS opt-in (router.personal_inbox).
                "opt_in_requests": await rt.personal_inbox.requests(tenant, agent),
            }
        )
    )
    if status.state is AgentState.LOGGED_OUT:
        await rt.conversations.set_state(tenant, agent, AgentState.NOT_READY)
    else:
        await ws.send_str(
            frames.state_frame(status.state, status.reason, status.load, status.capacity)
        )
    await _resync(rt, tenant, agent, ws)


async def _resync(rt: Runtime, tenant: str, agent: str, ws: web.WebSocketResponse) -> None:
    """Give a (re)connecting agent its conversations and pending offers again."""
    for session_id in await rt.store.agent_sessions(tenant, agent):
        session = await rt.store.load_session(tenant, session_id, with_history=False)
        if session is None:
            continue
        if session.state is SessionState.ASSIGNED and session.agent == agent:
            item = NodeFrame(
                tenant=tenant, target="agent", recipient=agent, kind="assigned",
                session_id=session_id,
            )  # fmt: skip
        elif session.state is SessionState.OFFERED and session.offer:
            item = NodeFrame(
                tenant=tenant, target="agent", recipient=agent, kind="offer",
                session_id=session_id, offer_id=session.offer.id,
            )  # fmt: skip
        else:
            continue
        frame = await rt.delivery.build(item)
        if frame:
            await ws.send_str(frame)


async def resync_all(rt: Runtime) -> None:
    """Give every agent connected here its conversations again (after the broker connection
    came back: frames queued for this process while it was down may be lost)."""
    for (tenant, agent), sockets in list(rt.sockets.agents.items()):
        for ws in list(sockets):
            try:
                await _resync(rt, tenant, agent, ws)
            except Exception:
                log.debug("resync of %s failed", agent, exc_info=True)


async def _dispatch(rt: Runtime, who: Principal, ws: web.WebSocketResponse, raw: str) -> None:
    ref: str | None = None
    try:
        command = frames.parse_command(raw)
        ref = command.type
        await _execute(rt, who, command)
    except FrameError as exc:
        await ws.send_str(frames.error_frame(exc.code, exc.message, exc.ref))
    except ConflictError as exc:
        await ws.send_str(frames.error_frame(exc.code, exc.message, ref))
    except NotFoundError as exc:
        await ws.send_str(frames.error_frame("not_found", str(exc), ref))
    except (BrokerError, StoreError):
        log.warning("agent command failed: backend unavailable", exc_info=True)
        await ws.send_str(
            frames.error_frame("unavailable", "the system is busy, please try again", ref)
        )


async def _execute(rt: Runtime, who: Principal, command: Command) -> None:
    conv, tenant, agent = rt.conversations, who.tenant, who.subject
    match command:
        case SetState(state=state, reason=reason):
            await conv.set_state(tenant, agent, AgentState(state), reason)
        case Accept(session_id=sid, offer_id=offer):
            await conv.accept(tenant, agent, sid, offer)
        case RejectOffer(session_id=sid, offer_id=offer):
            await conv.reject(tenant, agent, sid, offer)
        case Send():
            filed = await conv.send(
                tenant,
                command.session_id,
                sender=Sender(kind=SenderKind.AGENT, id=agent, name=who.name or agent),
                text=command.text,
                choices=command.choices,
                attachments=command.attachments,
                client_id=command.client_id,
            )
            await rt.delivery.frame_to_agent(
                tenant, agent, rt.settings.node_id, frames.message_frame(filed, command.client_id)
            )
        case Close(session_id=sid):
            await conv.close(tenant, sid, reason="agent", only_agent=agent)
        case Transfer(session_id=sid, queue=queue, agent=to_agent):
            if queue is None and to_agent is None:
                raise FrameError("invalid_frame", "transfer needs a queue or an agent", "transfer")
            await conv.transfer(tenant, agent, sid, queue=queue, to_agent=to_agent)
        case Escalate(session_id=sid):
            await conv.escalate(tenant, agent, sid)
        case OptInAnswer(number=number, accept=accept):
            await rt.personal_inbox.answer(tenant, agent, number, accept)
        case Block(session_id=sid):
            party = await rt.pipeline.blocking.block(tenant, agent, sid)
            await rt.delivery.frame_to_agent(
                tenant, agent, rt.settings.node_id, frames.blocked_frame(sid, party)
            )
