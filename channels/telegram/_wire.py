"""Telegram Bot API payloads (core.telegram.org/bots/api#available-types), only the fields
Switchboard reads; unknown fields are ignored so new Bot API versions keep parsing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from channels.base import Resubscribed, Unsubscribed
from channels.errors import (
    ChannelAuthError,
    ChannelError,
    PermanentSendError,
    ProviderUnavailable,
    RateLimited,
)
from channels.media import provider_media_url
from router.models import Attachment


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class User(_Model):
    id: int
    is_bot: bool = False
    first_name: str = ""
    last_name: str | None = None
    username: str | None = None

    @property
    def display(self) -> str:
        full = " ".join(p for p in (self.first_name, self.last_name) if p)
        return full or self.username or str(self.id)


class Chat(_Model):
    id: int
    type: str = "private"
    title: str | None = None


class File(_Model):
    file_id: str
    file_size: int | None = None
    mime_type: str | None = None
    file_name: str | None = None


class Sticker(File):
    emoji: str | None = None
    is_animated: bool = False
    is_video: bool = False


class Location(_Model):
    latitude: float
    longitude: float


class Venue(_Model):
    title: str = ""
    address: str = ""


class Contact(_Model):
    phone_number: str
    first_name: str = ""
    last_name: str | None = None


class Button(_Model):
    text: str
    callback_data: str | None = None


class Markup(_Model):
    inline_keyboard: list[list[Button]] = []


class Msg(_Model):
    message_id: int
    date: int
    chat: Chat
    from_: User | None = Field(default=None, alias="from")
    edit_date: int | None = None
    text: str | None = None
    caption: str | None = None
    photo: list[File] = []
    document: File | None = None
    video: File | None = None
    audio: File | None = None
    voice: File | None = None
    video_note: File | None = None
    animation: File | None = None
    sticker: Sticker | None = None
    location: Location | None = None
    venue: Venue | None = None
    contact: Contact | None = None
    reply_markup: Markup | None = None


class CallbackQuery(_Model):
    id: str
    from_: User = Field(alias="from")
    # An InaccessibleMessage (date 0) when the message is older than 48 h: chat and id only.
    message: Msg | None = None
    data: str | None = None


class ChatMember(_Model):
    status: str


class ChatMemberUpdated(_Model):
    chat: Chat
    new_chat_member: ChatMember


class Update(_Model):
    update_id: int
    message: Msg | None = None
    edited_message: Msg | None = None
    callback_query: CallbackQuery | None = None
    my_chat_member: ChatMemberUpdated | None = None


class ResponseParameters(_Model):
    retry_after: float | None = None


class Reply(_Model):
    """Every Bot API answer: ``{"ok":true,"result":...}`` or an error with ``error_code``."""

    ok: bool = False
    result: Any = None
    error_code: int | None = None
    description: str | None = None
    parameters: ResponseParameters | None = None


class Sent(_Model):
    """The ``result`` of sendMessage / sendPhoto / sendDocument."""

    message_id: int
    chat: Chat


class FileInfo(_Model):
    """The ``result`` of getFile."""

    file_id: str
    file_path: str | None = None


def reply_of(body: Any) -> Reply:
    try:
        return Reply.model_validate(body)
    except ValidationError:
        return Reply(description=str(body)[:200] if body else None)


def error_of(reply: Reply, status: int, retry_after: float = 1.0) -> ChannelError:
    """The typed error for an ``ok: false`` answer, by its ``error_code``."""
    code = reply.error_code or status
    text = (reply.description or f"HTTP {code}")[:500]
    if code == 429:
        wait = reply.parameters.retry_after if reply.parameters else None
        return RateLimited(text, wait if wait is not None else retry_after)
    if code in (401, 404):  # 404: a token of the wrong shape (no such bot URL)
        return ChannelAuthError(text)
    if code == 403:
        return ChannelAuthError(text, forbidden=True)
    if code >= 500:
        return ProviderUnavailable(text)
    return PermanentSendError(text)


def utc(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


# (field, default content type) of the single-file message kinds.
_FILE_KINDS = (
    ("animation", "video/mp4"),
    ("video", "video/mp4"),
    ("video_note", "video/mp4"),
    ("audio", "audio/mpeg"),
    ("voice", "audio/ogg"),
    ("document", "application/octet-stream"),
)


def _attachment(file: File, default_type: str) -> Attachment:
    return Attachment(
        url=provider_media_url(file.file_id),
        content_type=file.mime_type or default_type,
        size=file.file_size,
        name=file.file_name,
    )


def content(msg: Msg) -> tuple[list[str], tuple[Attachment, ...]]:
    """The text lines and attachments of a message (files are downloaded on demand)."""
    texts = [t for t in (msg.text, msg.caption) if t]
    attachments: list[Attachment] = []
    if msg.photo:
        attachments.append(_attachment(msg.photo[-1], "image/jpeg"))  # sizes: largest last
    for field, default in _FILE_KINDS:
        file: File | None = getattr(msg, field)
        if file is None or any(a.url == provider_media_url(file.file_id) for a in attachments):
            continue  # a GIF comes as animation AND as document
        attachments.append(_attachment(file, default))
    if msg.sticker is not None:
        texts.append(f"[sticker] {msg.sticker.emoji or ''}".rstrip())
        kind = "video/webm" if msg.sticker.is_video else "image/webp"
        if msg.sticker.is_animated:
            kind = "application/x-tgsticker"
        attachments.append(_attachment(msg.sticker, kind))
    if msg.location is not None:
        lat, lon = msg.location.latitude, msg.location.longitude
        if msg.venue is not None:
            texts.append(", ".join(p for p in (msg.venue.title, msg.venue.address) if p))
        texts.append(f"Location: {lat},{lon}\nhttps://maps.google.com/?q={lat},{lon}")
    if msg.contact is not None:
        c = msg.contact
        texts.append(
            " ".join(p for p in ("Contact:", c.first_name, c.last_name, c.phone_number) if p)
        )
    return texts, tuple(attachments)


def membership(update: ChatMemberUpdated) -> Unsubscribed | Resubscribed | None:
    """The bot's own membership in a chat changed (private chat: the user blocked it)."""
    status, party = update.new_chat_member.status, str(update.chat.id)
    if status == "kicked":
        return Unsubscribed(party_id=party, reason="blocked the bot")
    if status == "left":
        return Unsubscribed(party_id=party, reason="removed the bot from the chat")
    if status in ("member", "administrator"):
        return Resubscribed(party_id=party)
    return None
