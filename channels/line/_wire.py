"""LINE Messaging API payloads (developers.line.biz/en/reference/messaging-api/): the webhook
signature, the webhook body read into private, frozen models that ignore fields they do not
know, its messages normalized into text and attachments, and LINE's error bodies."""

from __future__ import annotations

import base64
import hashlib
import hmac
import mimetypes
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from channels.errors import InvalidSignature, MalformedPayload
from channels.media import provider_media_url
from router.models import Attachment

SIGNATURE_HEADER = "X-Line-Signature"
ROUTED_EVENTS = ("message", "postback", "follow", "unfollow")
MEDIA_TYPES = {"image": "image/jpeg", "video": "video/mp4", "audio": "audio/x-m4a"}


class _Vendor(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="ignore", alias_generator=to_camel, populate_by_name=True
    )


class Source(_Vendor):
    type: str
    user_id: str | None = None
    group_id: str | None = None
    room_id: str | None = None

    @property
    def chat(self) -> str | None:
        """Where replies go (the push ``to``): the group or room, else the user."""
        return self.group_id or self.room_id or self.user_id


class ContentProvider(_Vendor):
    type: str = "line"
    original_content_url: str | None = None


class Content(_Vendor):
    type: str
    id: str
    text: str | None = None
    content_provider: ContentProvider | None = None
    file_name: str | None = None
    file_size: int | None = Field(None, ge=0)
    title: str | None = None
    address: str | None = None
    latitude: float | None = None
    longitude: float | None = None


class Postback(_Vendor):
    data: str


class DeliveryContext(_Vendor):
    is_redelivery: bool = False


class Event(_Vendor):
    type: str
    mode: str = "active"
    timestamp: int
    source: Source
    webhook_event_id: str
    delivery_context: DeliveryContext = DeliveryContext()
    reply_token: str | None = None
    message: Content | None = None
    postback: Postback | None = None


class Callback(_Vendor):
    destination: str | None = None
    events: list[dict[str, Any]]


def verify_signature(header: str | None, body: bytes, channel_secret: str) -> None:
    """``X-Line-Signature``: base64 (not hex) HMAC-SHA256 of the raw body."""
    if not header:
        raise InvalidSignature(f"missing {SIGNATURE_HEADER}")
    expected = base64.b64encode(hmac.new(channel_secret.encode(), body, hashlib.sha256).digest())
    if not hmac.compare_digest(expected, header.strip().encode()):
        raise InvalidSignature(f"{SIGNATURE_HEADER} does not match the body")


def events(body: bytes) -> list[Event]:
    """The active events worth routing, with a chat to answer in."""
    try:
        callback = Callback.model_validate_json(body)
    except ValidationError as exc:
        raise MalformedPayload(f"not a LINE webhook body: {exc.errors()[0]['msg']}") from None
    out: list[Event] = []
    for raw in callback.events:
        if raw.get("type") not in ROUTED_EVENTS:
            continue  # join, leave, unsend, beacon, ... : nothing to route
        try:
            event = Event.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise MalformedPayload(f"bad {raw['type']} event: {where}: {err['msg']}") from None
        if event.mode != "active" or event.source.chat is None:
            continue
        out.append(event)
    return out


def content(msg: Content) -> tuple[str | None, tuple[Attachment, ...]]:
    """The text and attachments of a message (LINE-hosted media is downloaded on demand)."""
    kind = msg.type
    if kind == "text":
        return msg.text or "", ()
    if kind in MEDIA_TYPES or kind == "file":
        provider = msg.content_provider
        external = provider.original_content_url if provider is not None else None
        url = external or provider_media_url(msg.id)
        ctype = MEDIA_TYPES.get(kind) or (
            mimetypes.guess_type(msg.file_name or "")[0] or "application/octet-stream"
        )
        media = Attachment(url=url, content_type=ctype, size=msg.file_size, name=msg.file_name)
        return None, (media,)
    if kind == "location":
        if msg.latitude is None or msg.longitude is None:
            raise MalformedPayload("location message without coordinates")
        where = f"{msg.latitude},{msg.longitude}"
        label = ", ".join(p for p in (msg.title, msg.address) if p)
        maps = Attachment(
            url=f"https://maps.google.com/?q={where}",
            content_type="text/html",
            name=label or "Location",
        )
        return f"Location: {where}" + (f" ({label})" if label else ""), (maps,)
    if kind == "sticker":
        return "[sticker]" + (f" {msg.text}" if msg.text else ""), ()
    return f"[unsupported LINE {kind} message]", ()


class AlreadyAcceptedError(Exception):
    """A push retried with an accepted retry key: LINE answers 409 with ``sentMessages``."""

    def __init__(self, ids: tuple[str, ...]) -> None:
        super().__init__("retry key already accepted")
        self.ids = ids


def describe(body: Any) -> str | None:
    """LINE's error body: ``{"message": ..., "details": [{"message", "property"}]}``."""
    if not isinstance(body, dict):
        return None
    message = str(body["message"])
    details = [
        f"{d.get('property', '')}: {d.get('message', '')}".strip(": ")
        for d in body.get("details") or ()
        if isinstance(d, dict)
    ]
    return f"{message} ({'; '.join(details)})" if details else message


def describe_push(body: Any) -> str | None:
    """Like ``describe``; a 409 for an already accepted retry key (the only error body with
    ``sentMessages``) is raised as ``AlreadyAcceptedError`` out of ``call``."""
    sent = body.get("sentMessages") if isinstance(body, dict) else None
    if isinstance(sent, list):
        raise AlreadyAcceptedError(tuple(str(m["id"]) for m in sent if isinstance(m, dict)))
    return describe(body)
