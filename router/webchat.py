"""The customer web chat page and its WebSocket (``/chat/{tenant}/{stream}``).

A visitor is identified by a token the server signs (HMAC with the system's shared secret)
and the page keeps, so a reload continues the same conversation. Messages go through
``Pipeline.submit`` like any provider's, and are acknowledged only once durably queued;
the page re-sends unacknowledged ones after a reconnect and the id dedupes them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from typing import Annotated, Literal

from aiohttp import WSMsgType, web
from pydantic import Field, ValidationError

from queues.base import BrokerError
from router import frames, logs
from router.config import MediaStreamConfig
from router.errors import NotFoundError, StoreError
from router.ids import new_id
from router.keys import RUNTIME
from router.limits import FrameRate, InboundRateLimited, ws_error, ws_frame_allowed
from router.models import ChannelKind, Direction, Frozen, Message, Party, Sender, SenderKind
from router.pages import render_page
from router.routing_adapter import queue_of_entry
from router.runtime import PRESENCE_TTL, Runtime

log = logging.getLogger(__name__)
MAX_FRAME = 16 * 1024


class CustomerMessage(Frozen):
    type: Literal["message"]
    id: Annotated[str, Field(min_length=1, max_length=128)]
    text: Annotated[str, Field(min_length=1, max_length=4000)]
    name: Annotated[str, Field(max_length=100)] | None = None
    email: Annotated[str, Field(max_length=200)] | None = None


def _stream(rt: Runtime, request: web.Request) -> MediaStreamConfig:
    try:
        stream = rt.conversations.stream(request.match_info["tenant"], request.match_info["stream"])
    except NotFoundError:
        raise web.HTTPNotFound(text="no such chat") from None
    if stream.media is not ChannelKind.WEBCHAT or queue_of_entry(stream.id) is not None:
        raise web.HTTPNotFound(text="no such chat")  # queue entry points have no chat page
    return stream


def sign_visitor(secret: bytes, tenant: str, stream: str, visitor: str) -> str:
    mac = hmac.new(secret, f"{tenant}:{stream}:{visitor}".encode(), hashlib.sha256).hexdigest()
    return f"{visitor}.{mac[:32]}"


def check_visitor(secret: bytes, tenant: str, stream: str, token: str | None) -> str | None:
    if not token or "." not in token or len(token) > 200:
        return None
    visitor = token.split(".", 1)[0]
    expected = sign_visitor(secret, tenant, stream, visitor)
    return visitor if hmac.compare_digest(expected, token) else None


async def chat_page(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    stream = _stream(rt, request)
    tenant = request.match_info["tenant"]
    return render_page(
        request,
        "chat.html",
        {
            "tenant": tenant,
            "stream": {"id": stream.id, "name": stream.name or stream.id},
            "ws_url": f"/chat/{tenant}/{stream.id}/ws",
        },
    )


async def chat_socket(request: web.Request) -> web.WebSocketResponse:
    rt = request.app[RUNTIME]
    stream = _stream(rt, request)
    tenant = request.match_info["tenant"]
    visitor = check_visitor(rt.secret, tenant, stream.id, request.query.get("visitor"))
    visitor = visitor or secrets.token_hex(12)
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=MAX_FRAME)
    await ws.prepare(request)
    key = f"{stream.id}:{visitor}"
    rt.sockets.add_visitor(tenant, key, ws)
    try:
        await rt.store.set_visitor_node(
            tenant, stream.id, visitor, rt.settings.node_id, PRESENCE_TTL * 2
        )
        await _welcome(rt, ws, tenant, stream.id, visitor)
        rate = FrameRate(rt.settings.chat_ws_frames_per_second)
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                if not await ws_frame_allowed(rt.metrics, ws, rate, "webchat_ws"):
                    continue
                with logs.bound(logs.new_correlation_id(), tenant=tenant, channel="webchat"):
                    await _on_frame(rt, ws, tenant, stream, visitor, msg.data)
            elif msg.type == WSMsgType.ERROR:
                ws_error(rt.metrics, msg, "webchat_ws")
            elif msg.type == WSMsgType.BINARY:
                message = "binary frames are not accepted"
                await ws.send_str(
                    frames.dumps({"type": "error", "code": "invalid_frame", "message": message})
                )
    finally:
        if rt.sockets.remove_visitor(tenant, key, ws):
            try:
                await rt.store.set_visitor_node(tenant, stream.id, visitor, None)
            except StoreError:
                log.debug("could not clear visitor presence", exc_info=True)
    return ws


async def _welcome(
    rt: Runtime, ws: web.WebSocketResponse, tenant: str, stream: str, visitor: str
) -> None:
    session_id = await rt.store.current_session_id(tenant, stream, visitor)
    history: list[dict[str, object]] = []
    if session_id:
        history = [frames.message_view(m) for m in await rt.store.history(tenant, session_id)]
    await ws.send_str(
        frames.dumps(
            {
                "type": "welcome",
                "visitor": sign_visitor(rt.secret, tenant, stream, visitor),
                "session_id": session_id,
                "history": history,
            }
        )
    )


def customer_message(
    tenant: str, stream_id: str, party: Party, text: str, message_id: str
) -> Message:
    """An inbound web chat message from ``party`` (the visitor), ``message_id`` being the
    sender's own id of it."""
    return Message(
        id=new_id(),
        tenant=tenant,
        channel=ChannelKind.WEBCHAT,
        account="webchat",
        stream=stream_id,
        direction=Direction.INBOUND,
        remote_party=party,
        sender=Sender(kind=SenderKind.CUSTOMER, id=party.id, name=party.name),
        text=text,
        provider_message_id=message_id,
    )


async def _on_frame(
    rt: Runtime, ws: web.WebSocketResponse, tenant: str, stream: MediaStreamConfig,
    visitor: str, raw: str,
) -> None:  # fmt: skip
    try:
        data = json.loads(raw)
        frame = CustomerMessage.model_validate(data)
    except ValueError as exc:
        detail = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else "not JSON"
        await ws.send_str(
            frames.dumps({"type": "error", "code": "invalid_frame", "message": detail})
        )
        return
    party = Party(id=visitor, name=frame.name, email=frame.email)
    message = customer_message(tenant, stream.id, party, frame.text, frame.id)
    try:
        accepted = await rt.pipeline.submit(
            message, dedupe_key=f"webchat:{stream.id}:{visitor}:{frame.id}"
        )
    except InboundRateLimited as exc:  # not acknowledged: the page sends it again later
        rt.metrics.messages_in.labels("webchat", "rate_limited").inc()
        rt.metrics.rejected_requests.labels("webchat_ws", f"{exc.scope}_rate").inc()
        error = {"type": "error", "code": "rate_limited", "id": frame.id, "message": str(exc),
                 "retry_after": exc.retry_after}  # fmt: skip
        await ws.send_str(frames.dumps(error))
        return
    except BrokerError:
        await ws.send_str(
            frames.dumps({"type": "error", "code": "unavailable", "message": "please retry"})
        )
        return
    rt.metrics.messages_in.labels("webchat", "accepted" if accepted else "blocked").inc()
    await ws.send_str(frames.dumps({"type": "ack", "id": frame.id}))
