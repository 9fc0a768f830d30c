"""The WhatsApp Cloud API webhook as sent by Meta (``object: whatsapp_business_account``), read
into private, frozen models that ignore fields they do not know, and normalized into text and
attachments (developers.facebook.com/docs/whatsapp/cloud-api/webhooks/components)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from channels.media import provider_media_url
from channels.meta import load_webhook
from router.models import Attachment, MessageStatus

MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
DEFAULT_MIME = {"image": "image/jpeg", "video": "video/mp4", "audio": "audio/ogg",
                "sticker": "image/webp", "document": "application/octet-stream"}  # fmt: skip
IGNORED_TYPES = frozenset({"reaction", "system", "request_welcome", "ephemeral", "revoke"})
STATUSES = {
    "sent": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.READ,
    "failed": MessageStatus.FAILED,
}


class _Vendor(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class _Profile(_Vendor):
    name: str | None = None


class Contact(_Vendor):
    wa_id: str | None = None
    user_id: str | None = None
    profile: _Profile | None = None


class _Media(_Vendor):
    id: str
    mime_type: str | None = None
    caption: str | None = None
    filename: str | None = None


class _Location(_Vendor):
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None


class _Text(_Vendor):
    body: str


class _Reply(_Vendor):
    id: str | None = None
    title: str | None = None


class _Interactive(_Vendor):
    type: str
    button_reply: _Reply | None = None
    list_reply: _Reply | None = None


class _Button(_Vendor):
    text: str | None = None
    payload: str | None = None


class InboundMessage(_Vendor):
    id: str
    sender: str | None = Field(default=None, alias="from")
    from_user_id: str | None = None
    timestamp: str | int | None = None
    type: str
    text: _Text | None = None
    image: _Media | None = None
    video: _Media | None = None
    audio: _Media | None = None
    document: _Media | None = None
    sticker: _Media | None = None
    location: _Location | None = None
    interactive: _Interactive | None = None
    button: _Button | None = None


class _ErrorData(_Vendor):
    details: str | None = None


class _Error(_Vendor):
    code: int | None = None
    title: str | None = None
    message: str | None = None
    error_data: _ErrorData | None = None


class Status(_Vendor):
    id: str
    status: str
    errors: tuple[_Error, ...] = ()


class _Metadata(_Vendor):
    phone_number_id: str


class Value(_Vendor):
    metadata: _Metadata | None = None
    contacts: tuple[Contact, ...] = ()
    messages: tuple[InboundMessage, ...] = ()
    statuses: tuple[Status, ...] = ()


class _Change(_Vendor):
    field: str
    value: Any = None


class _Entry(_Vendor):
    id: str
    changes: tuple[_Change, ...] = ()


class _Webhook(_Vendor):
    object: str
    entry: tuple[_Entry, ...]


def values(body: bytes) -> list[Value]:
    """The ``messages``-field values of a webhook's raw body ([] for another object).

    Raises ``MalformedPayload`` for a body that is not JSON or not of the webhook's shape,
    ``pydantic.ValidationError`` for a ``messages`` value of the wrong shape.
    """
    hook = load_webhook(_Webhook, body, "WhatsApp")
    if hook.object != "whatsapp_business_account":
        return []
    return [
        Value.model_validate(change.value)
        for entry in hook.entry
        for change in entry.changes
        if change.field == "messages"
    ]


def find_contact(value: Value, msg: InboundMessage) -> Contact | None:
    """The ``contacts[]`` entry of a message's sender (by wa_id or BSUID)."""
    for contact in value.contacts:
        if (msg.sender and contact.wa_id == msg.sender) or (
            msg.from_user_id and contact.user_id == msg.from_user_id
        ):
            return contact
    return value.contacts[0] if len(value.contacts) == 1 else None


Content = tuple[str | None, tuple[Attachment, ...]]


def _media(msg: InboundMessage) -> Content:
    media: _Media | None = getattr(msg, msg.type)
    if media is None:
        return f"[unsupported message: {msg.type}]", ()
    mime = (media.mime_type or DEFAULT_MIME[msg.type]).split(";", 1)[0].strip()
    att = Attachment(url=provider_media_url(media.id), content_type=mime, name=media.filename)
    return ("[sticker]" if msg.type == "sticker" else media.caption), (att,)


def _location(msg: InboundMessage) -> Content:
    loc = msg.location
    if loc is None:
        return "[unsupported message: location]", ()
    text = f"Location: {loc.latitude},{loc.longitude}"
    label = " - ".join(p for p in (loc.name, loc.address) if p)
    link = Attachment(
        url=f"https://www.google.com/maps/search/?api=1&query={loc.latitude},{loc.longitude}",
        content_type="text/html",
        name=loc.name or "Map",
    )
    return (f"{text} ({label})" if label else text), (link,)


def _interactive(msg: InboundMessage) -> Content:
    it = msg.interactive
    reply = (it.button_reply or it.list_reply) if it is not None else None
    if reply is None or not (reply.title or reply.id):
        return f"[unsupported message: {it.type if it else 'interactive'}]", ()
    return reply.title or reply.id, ()


def _text(msg: InboundMessage) -> Content:
    return (msg.text.body if msg.text else None), ()


def _button(msg: InboundMessage) -> Content:
    button = msg.button
    return ((button.text or button.payload) if button else None) or "[button]", ()


_CONTENT: dict[str, Callable[[InboundMessage], Content]] = {
    "text": _text,
    "location": _location,
    "interactive": _interactive,
    "button": _button,
    **dict.fromkeys(MEDIA_TYPES, _media),
}


def content(msg: InboundMessage) -> Content:
    """A message's text and attachments."""
    handler = _CONTENT.get(msg.type)
    return handler(msg) if handler else (f"[unsupported message: {msg.type}]", ())


def failure_reason(status: Status) -> str:
    """Why a message failed: ``errors[0].title`` (+ details) and the code."""
    if not status.errors:
        return "failed"
    err = status.errors[0]
    text = err.title or err.message or "failed"
    details = err.error_data.details if err.error_data else None
    if details and details != text:
        text = f"{text}: {details}"
    return f"{text} (code {err.code})" if err.code is not None else text
