"""Viber REST Bot API adapter.

Follows developers.viber.com/docs/api/rest-bot-api/ (callbacks, ``send_message``,
``set_webhook``, ``get_account_info``).

Quirks handled:
- Every API call is a JSON POST to ``{api_base_url}/<endpoint>`` authenticated by the
  ``X-Viber-Auth-Token`` header (the old SDK put the token in the body; Viber wants the header).
- Errors usually come back with HTTP 200 and a non-zero ``status``: 2 (invalid auth token) is
  an auth error, 12 (too many requests: max 100 messages an hour to a user who has not
  answered) is a rate limit, everything else (5/6 receiver not registered / subscribed, bad
  data, ...) a permanent failure, each with Viber's ``status_message``.
- ``X-Viber-Content-Signature`` is the lowercase hex HMAC-SHA256 of the raw body with the token.
- ``message_token`` is a 64-bit integer: parsed as an int, never a float, and used as a string.
- Set Webhook makes Viber POST a signed ``{"event": "webhook"}`` check to the URL, which must
  answer 200 (it does: it has no events). The account's ``webhook_host`` (public host:port),
  when set, replaces the host of the URL registered.
- A user's message subscribes them, so a message also marks the contact reachable again.
- Outbound: text up to 7000 characters (longer is split), https JPEG/PNG/GIF attachments as
  ``picture`` messages (the text as caption when it fits in 768), other attachments as links,
  up to 24 choices as a reply keyboard (``min_api_version`` 3) else a numbered list.
"""

from __future__ import annotations

import hashlib
import hmac
import mimetypes
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from channels.accounts import ViberAccount
from channels.base import (
    Capabilities,
    CheckResult,
    ConnectionCheck,
    InboundEvent,
    Resubscribed,
    SendReceipt,
    StatusUpdate,
    Unsubscribed,
    WebhookRequest,
    check_from_error,
)
from channels.degrade import choices_as_text, flatten, split_text
from channels.errors import (
    ChannelAuthError,
    ChannelError,
    InvalidSignature,
    MalformedPayload,
    PermanentSendError,
    RateLimited,
)
from channels.http import call
from channels.inbound import inbound_message
from router.models import Attachment, ChannelKind, Message, MessageStatus

TEXT_LIMIT = 7000
CAPTION_LIMIT = 768
SENDER_NAME_LIMIT = 28
KEYBOARD_BUTTONS = 24
IMAGE_TYPES = ("image/jpeg", "image/png", "image/gif")
EVENT_TYPES = ["delivered", "seen", "failed", "subscribed", "unsubscribed", "conversation_started"]
# Viber's status 12 says nothing about when to retry.
RATE_LIMIT_RETRY_SECONDS = 1.0
_AUTH_STATUS = 2
_RATE_STATUS = 12
_STATUS = {
    "delivered": MessageStatus.DELIVERED,
    "seen": MessageStatus.READ,
    "failed": MessageStatus.FAILED,
}


class _Vendor(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class _User(_Vendor):
    id: str = Field(min_length=1)
    name: str | None = None


class _Location(_Vendor):
    lat: float
    lon: float


class _Contact(_Vendor):
    name: str | None = None
    phone_number: str | None = None


class _Content(_Vendor):
    type: str
    text: str | None = None
    media: str | None = None
    file_name: str | None = None
    size: int | None = Field(None, ge=0)
    location: _Location | None = None
    contact: _Contact | None = None
    sticker_id: int | str | None = None


class _Callback(_Vendor):
    event: str
    timestamp: StrictInt
    message_token: StrictInt | None = None
    sender: _User | None = None
    user: _User | None = None
    user_id: str | None = None
    message: _Content | None = None
    desc: str | None = None


class _Head(_Vendor):
    event: str


def _describe(body: Any) -> str | None:
    if isinstance(body, dict) and body.get("status_message"):
        return str(body["status_message"])
    return None


def _is_native_image(a: Attachment) -> bool:
    return a.content_type in IMAGE_TYPES and a.url.startswith("https://")


class ViberAdapter:
    """One Viber bot (public account) with its auth token."""

    kind: ClassVar[ChannelKind] = ChannelKind.VIBER
    # Viber publishes no per-second send limit; its limit is per user (status 12).
    capabilities: ClassVar[Capabilities] = Capabilities(max_text_length=TEXT_LIMIT)

    def __init__(self, account: ViberAccount, session: aiohttp.ClientSession) -> None:
        self.account = account
        self.session = session

    # -- webhook --------------------------------------------------------------------------

    def verify(self, request: WebhookRequest) -> None:
        given = request.headers.get("X-Viber-Content-Signature")
        if not given:
            raise InvalidSignature("missing X-Viber-Content-Signature")
        key = self.account.token.get_secret_value().encode()
        expected = hmac.new(key, request.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), given.strip().lower().encode()):
            raise InvalidSignature("X-Viber-Content-Signature does not match the body")

    def parse(self, request: WebhookRequest) -> Sequence[InboundEvent]:
        try:
            event = _Head.model_validate_json(request.body).event
            if event not in ("message", "subscribed", "unsubscribed", *_STATUS):
                return []  # webhook check, conversation_started, unknown: nothing to route
            callback = _Callback.model_validate_json(request.body)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise MalformedPayload(f"not a Viber callback: {where}: {err['msg']}") from None
        if event == "message":
            return self._message(callback)
        if event == "subscribed":
            if callback.user is None:
                raise MalformedPayload("subscribed callback without user")
            return [Resubscribed(party_id=callback.user.id)]
        if event == "unsubscribed":
            if not callback.user_id:
                raise MalformedPayload("unsubscribed callback without user_id")
            return [Unsubscribed(party_id=callback.user_id, reason="unsubscribed")]
        if callback.message_token is None:
            raise MalformedPayload(f"{event} callback without message_token")
        reason = (callback.desc or "failed") if event == "failed" else None
        return [
            StatusUpdate(
                provider_message_id=str(callback.message_token),
                status=_STATUS[event],
                reason=reason,
            )
        ]

    def _message(self, callback: _Callback) -> list[InboundEvent]:
        if callback.sender is None or callback.message is None:
            raise MalformedPayload("message callback without sender or message")
        if callback.message_token is None:
            raise MalformedPayload("message callback without message_token")
        text, attachments = _content(callback.message)
        user = callback.sender
        message = inbound_message(
            self.account,
            self.kind,
            party_id=user.id,
            party_name=user.name,
            text=text,
            attachments=attachments,
            provider_message_id=str(callback.message_token),
            created_at=datetime.fromtimestamp(callback.timestamp / 1000, tz=UTC),
        )
        # Writing to the bot (re)subscribes the user.
        return [Resubscribed(party_id=user.id), message]

    # -- outbound -------------------------------------------------------------------------

    async def _api(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST one API call; a non-zero ``status`` (with HTTP 200) becomes a typed error."""
        url = f"{self.account.api_base_url.rstrip('/')}/{endpoint}"
        headers = {"X-Viber-Auth-Token": self.account.token.get_secret_value()}
        _, data, _ = await call(
            self.session, "POST", url, json=body, headers=headers, describe=_describe
        )
        if not isinstance(data, dict):
            raise PermanentSendError(f"unexpected Viber answer to {endpoint}")
        status = data.get("status")
        if status == 0:
            return data
        detail = f"{data.get('status_message') or 'error'} (status {status})"
        if status == _AUTH_STATUS:
            raise ChannelAuthError(detail)
        if status == _RATE_STATUS:
            raise RateLimited(detail, RATE_LIMIT_RETRY_SECONDS)
        raise PermanentSendError(detail)

    def render(self, message: Message) -> list[dict[str, Any]]:
        """The ``send_message`` bodies for one outbound message, in order."""
        images = [a for a in message.attachments if _is_native_image(a)]
        others = tuple(a for a in message.attachments if not _is_native_image(a))
        choices = message.choices
        keyboard = 0 < len(choices) <= KEYBOARD_BUTTONS
        text = flatten(
            message.model_copy(update={"attachments": others}), media=False, choices=keyboard
        )
        if not text and not images and choices:
            text = choices_as_text(choices)
        caption = ""
        if images and len(text) <= CAPTION_LIMIT:
            caption, text = text, ""
        chunks = split_text(text, TEXT_LIMIT) if text else []
        bodies: list[dict[str, Any]] = [{"type": "text", "text": c} for c in chunks]
        bodies += [
            {"type": "picture", "text": caption if i == 0 else "", "media": a.url}
            for i, a in enumerate(images)
        ]
        sender = {"name": (self.account.bot_username or self.account.name)[:SENDER_NAME_LIMIT]}
        head = {"receiver": message.remote_party.id, "min_api_version": 1, "sender": sender}
        out = [{**head, **body} for body in bodies]
        if keyboard and out:
            buttons = [{"ActionType": "reply", "ActionBody": c, "Text": c} for c in choices]
            out[-1]["min_api_version"] = 3
            out[-1]["keyboard"] = {"Type": "keyboard", "Buttons": buttons}
        return out

    async def send(self, message: Message) -> SendReceipt:
        bodies = self.render(message)
        if not bodies:
            raise PermanentSendError("nothing to send")
        tokens: list[str] = []
        for body in bodies:
            data = await self._api("send_message", body)
            if data.get("message_token") is not None:
                tokens.append(str(data["message_token"]))
        return SendReceipt(delivered=True, provider_message_ids=tuple(tokens))

    # -- account --------------------------------------------------------------------------

    async def test_connection(self) -> ConnectionCheck:
        try:
            info = await self._api("get_account_info", {})
        except ChannelError as exc:
            return check_from_error(exc)
        name = info.get("name")
        uri = info.get("uri")
        detail = f"Viber bot {name}" + (f" ({uri})" if uri else "")
        if info.get("webhook"):
            detail += f", webhook {info['webhook']}"
        return ConnectionCheck(result=CheckResult.VALID, detail=detail, account_name=name)

    def public_url(self, url: str) -> str:
        """``url`` with the account's public host:port (``webhook_host``) when one is set."""
        host = self.account.webhook_host
        if not host:
            return url
        parts = urlsplit(url)
        return urlunsplit(("https", host, parts.path, parts.query, ""))

    async def set_webhook(self, url: str) -> ConnectionCheck:
        """Register the callback URL; Viber calls it with a signed check before answering."""
        url = self.public_url(url)
        body = {"url": url, "event_types": EVENT_TYPES, "send_name": True, "send_photo": True}
        try:
            data = await self._api("set_webhook", body)
        except ChannelError as exc:
            return check_from_error(exc)
        return ConnectionCheck(
            result=CheckResult.VALID,
            detail=f"webhook set to {url}: {data.get('status_message', 'ok')}",
        )


def _content(content: _Content) -> tuple[str | None, tuple[Attachment, ...]]:
    kind = content.type
    if kind == "text":
        return content.text or "", ()
    if kind in ("picture", "video", "file"):
        default = {"picture": "image/jpeg", "video": "video/mp4"}.get(kind)
        guessed = mimetypes.guess_type(content.file_name or content.media or "")[0]
        ctype = guessed or default or "application/octet-stream"
        if not content.media:
            raise MalformedPayload(f"{kind} message without media")
        attachment = Attachment(
            url=content.media, content_type=ctype, size=content.size, name=content.file_name
        )
        return content.text or None, (attachment,)
    if kind == "location":
        if content.location is None:
            raise MalformedPayload("location message without location")
        where = f"{content.location.lat},{content.location.lon}"
        maps = Attachment(
            url=f"https://maps.google.com/?q={where}", content_type="text/html", name="Location"
        )
        return f"Location: {where}", (maps,)
    if kind == "sticker":
        if not content.media:
            return "[sticker]", ()
        return "[sticker]", (
            Attachment(url=content.media, content_type="image/png", name="sticker"),
        )
    if kind == "contact" and content.contact is not None:
        parts = [p for p in (content.contact.name, content.contact.phone_number) if p]
        return "Contact: " + " ".join(parts), ()
    if kind == "url" and content.media:
        return content.media, ()
    return f"[unsupported Viber {kind} message]", ()


def build_adapter(account: ViberAccount, session: aiohttp.ClientSession) -> ViberAdapter:
    return ViberAdapter(account, session)
