"""The SMS/MMS API: ``POST /api/v1/sms/messages`` sends from one of the tenant's numbers,
``GET /api/v1/sms/messages/{id}`` reads a message back with its delivery status.

Only API users whose role holds the *Use SMS/MMS API* privilege (``use_sms_api``) may call
it (declared in ``router.api_routes``); their API secret is the ``client_secret`` of the
client-credentials token request.

A send goes into the conversation of (the number's media stream or personal inbox, the
customer): the open one, or a closed one still inside its reopen window; else a new one is
opened, closed, so that the customer's reply reopens it with the API message in its history.
It then takes the one outbound path (``Conversations.send``), so consent, blocking and the
MMS rule apply exactly as for agents.
"""

from __future__ import annotations

import json
import mimetypes
from typing import Annotated, Any
from urllib.parse import urlsplit

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from channels.cpaas import ProvisioningState, StreamTarget, normalize_us_number
from router import frames
from router.api import principal_of
from router.consent import ensure_can_send
from router.errors import ConflictError, NotFoundError
from router.http_errors import error_response
from router.keys import RUNTIME
from router.models import (
    Attachment,
    ChannelKind,
    Direction,
    Message,
    MessageStatus,
    Party,
    Sender,
    SenderKind,
    SessionState,
)
from router.personal_inbox import delivers, personal_stream_id
from router.runtime import Runtime
from router.store.base import tenant_prefix

MAX_TEXT = 1600
MAX_MEDIA = 10


MediaUrl = Annotated[str, Field(pattern=r"^https?://\S+$", max_length=2000)]


class SmsSend(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    from_: str = Field(alias="from", min_length=1, max_length=32)
    to: str = Field(min_length=1, max_length=32)
    text: str | None = Field(default=None, max_length=MAX_TEXT)
    media_urls: tuple[MediaUrl, ...] = Field(default=(), max_length=MAX_MEDIA)


def _status(message: Message) -> str:
    if message.direction is Direction.OUTBOUND and message.status is MessageStatus.RECEIVED:
        return "queued"  # filed, not yet taken by the provider
    return message.status.value


def message_view(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "session_id": message.session_id,
        "seq": message.seq,
        "channel": message.channel.value,
        "direction": message.direction.value,
        "from": message.account,
        "to": message.remote_party.id,
        "text": message.text,
        "media_urls": [a.url for a in message.attachments],
        "status": _status(message),
        "error": message.error,
        "created_at": message.created_at.isoformat(),
    }


def _attachment(url: str) -> Attachment:
    kind = mimetypes.guess_type(urlsplit(url).path)[0] or "application/octet-stream"
    return Attachment(url=url, content_type=kind)


async def _body(request: web.Request) -> SmsSend | web.Response:
    try:
        body = SmsSend.model_validate(json.loads(await request.read()))
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        field = "from" if field == "from_" else field
        return error_response(400, "invalid", f"{field}: {err['msg']}", field)
    except ValueError:
        return error_response(400, "malformed_json", "the body is not valid JSON")
    if not body.text and not body.media_urls:
        return error_response(400, "empty_message", "give text or media_urls", "text")
    return body


async def send_message(request: web.Request) -> web.Response:
    rt, who = request.app[RUNTIME], principal_of(request)
    body = await _body(request)
    if isinstance(body, web.Response):
        return body
    try:
        number_id = normalize_us_number(body.from_)
    except ValueError as exc:
        return error_response(400, "invalid", f"from: {exc}", "from")
    try:
        to = "+1" + normalize_us_number(body.to)
    except ValueError as exc:
        return error_response(400, "invalid", f"to: {exc}", "to")
    number = await rt.store.cpaas.number(who.tenant, number_id)
    if number is None:
        return error_response(404, "not_found", f"{number_id} is not a number of yours", "from")
    if number.provisioning is not ProvisioningState.ACTIVE:
        return error_response(
            409, "number_not_ready", f"{number_id} is {number.provisioning.value}, not active"
        )
    if isinstance(number.target, StreamTarget):
        stream_id = number.target.stream
    elif delivers(number):
        stream_id = personal_stream_id(number.number)
    else:
        return error_response(
            409, "number_not_accepted", "the number's user has not accepted SMS on it"
        )
    try:
        filed = await _send(rt, who.tenant, who.subject, stream_id, number_id, to, body)
    except ConflictError as exc:
        return error_response(409, exc.code, exc.message)
    except NotFoundError as exc:
        return error_response(404, "not_found", str(exc), "from")
    return web.json_response(message_view(filed), status=202)


async def _send(
    rt: Runtime, tenant: str, client_id: str, stream_id: str, number: str, to: str,
    body: SmsSend,
) -> Message:  # fmt: skip
    stream = rt.conversations.stream(tenant, stream_id)
    # Refuse before a conversation is opened for nothing.
    await ensure_can_send(rt.store, tenant, ChannelKind.SMS, number, to)
    window = stream.reopen_window_seconds if stream.reopen_on_reply else 0.0
    session_id, _ = await rt.store.sms.open_outbound_session(
        tenant, stream=stream_id, channel=ChannelKind.SMS, account=number, party=Party(id=to),
        queue=stream.queue, priority=stream.priority, skills=stream.skills,
        reopen_window_seconds=window,
    )  # fmt: skip
    session = await rt.conversations.session(tenant, session_id)
    if session.channel is not ChannelKind.SMS or session.account != number:
        raise ConflictError(
            "conversation_on_other_number",
            f"the customer's open conversation on this stream is with {session.account}",
        )
    filed = await rt.conversations.send(
        tenant, session_id, sender=Sender(kind=SenderKind.SYSTEM, id=client_id, name="API"),
        text=body.text or None, attachments=tuple(_attachment(u) for u in body.media_urls),
    )  # fmt: skip
    if session.state is SessionState.ASSIGNED and session.agent:
        # The agent holding the conversation sees what the API wrote into it.
        node = await rt.store.client.get(f"{tenant_prefix(tenant)}on:{session.agent}")
        await rt.delivery.frame_to_agent(
            tenant, session.agent, str(node) if node else None, frames.message_frame(filed)
        )
    return filed


async def get_message(request: web.Request) -> web.Response:
    rt, who = request.app[RUNTIME], principal_of(request)
    message_id = request.match_info["message_id"]
    found = await rt.store.sms.locate(who.tenant, message_id)
    history = await rt.store.history(who.tenant, found[0], start=found[1]) if found else ()
    if not history or history[0].id != message_id:
        return error_response(404, "not_found", "no such SMS message", "message_id")
    return web.json_response(message_view(history[0]))
