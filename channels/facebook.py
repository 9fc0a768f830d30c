"""Facebook Messenger (Messenger Platform webhooks + Send API) for one Facebook Page.

Follows developers.facebook.com/docs/messenger-platform/webhooks (``object: page`` events with
``messaging`` arrays) and /docs/messenger-platform/reference/send-api. Quirks handled:

* Meta's GET ``hub.challenge`` handshake and ``X-Hub-Signature-256`` (``channels.meta``);
* several entries / events per POST are all returned; events for another Page (one app may
  serve several Pages) are ignored, as are echoes of our own sends (``is_echo``) to avoid loops;
* attachments (image, video, audio, file) come as CDN URLs; stickers are image attachments with a
  ``sticker_id``; locations (legacy) carry coordinates; postbacks and quick-reply taps become text;
* ``delivery`` events name the delivered ``mids``; ``read`` events only carry a watermark (a
  time), which names no message, so they are not mapped (documented limitation);
* outbound text is at most 2000 characters (split), choices become up to 13 quick replies
  (titles at most 20 characters, otherwise a numbered list), attachments are sent by URL.
"""

from __future__ import annotations

import mimetypes
import posixpath
from collections.abc import Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit

import aiohttp
from pydantic import BaseModel, ConfigDict

from channels import meta
from channels.accounts import FacebookAccount, IntegrationAccount
from channels.base import (
    Capabilities,
    CheckResult,
    ConnectionCheck,
    InboundEvent,
    SendReceipt,
    StatusUpdate,
    WebhookRequest,
    check_from_error,
)
from channels.degrade import flatten, split_text
from channels.errors import ChannelError, PermanentSendError
from channels.inbound import inbound_message
from router.models import Attachment, ChannelKind, Message, MessageStatus

MAX_TEXT = 2000
MAX_QUICK_REPLIES = 13
MAX_QUICK_REPLY_TITLE = 20
MAX_PAYLOAD = 1000
ATTACHMENT_TYPES = {"image": "image/jpeg", "video": "video/mp4", "audio": "audio/mpeg"}


class _Vendor(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class _Id(_Vendor):
    id: str


class _Coordinates(_Vendor):
    lat: float
    long: float


class _Payload(_Vendor):
    url: str | None = None
    sticker_id: int | None = None
    coordinates: _Coordinates | None = None
    title: str | None = None


class _Attachment(_Vendor):
    type: str
    payload: _Payload | None = None
    title: str | None = None
    url: str | None = None


class _QuickReply(_Vendor):
    payload: str | None = None


class _Message(_Vendor):
    mid: str
    text: str | None = None
    is_echo: bool = False
    attachments: tuple[_Attachment, ...] = ()
    quick_reply: _QuickReply | None = None
    sticker_id: int | None = None


class _Postback(_Vendor):
    title: str | None = None
    payload: str | None = None
    mid: str | None = None


class _Delivery(_Vendor):
    mids: tuple[str, ...] = ()


class _Event(_Vendor):
    sender: _Id
    recipient: _Id
    timestamp: int | None = None
    message: _Message | None = None
    postback: _Postback | None = None
    delivery: _Delivery | None = None


class _Entry(_Vendor):
    id: str
    time: int | None = None
    messaging: tuple[_Event, ...] = ()


class _Webhook(_Vendor):
    object: str
    entry: tuple[_Entry, ...]


def _content_type(url: str, kind: str) -> str:
    guessed, _ = mimetypes.guess_type(urlsplit(url).path)
    return guessed or ATTACHMENT_TYPES.get(kind, "application/octet-stream")


def _maps_link(lat: float, long: float, title: str | None) -> Attachment:
    return Attachment(
        url=f"https://www.google.com/maps/search/?api=1&query={lat},{long}",
        content_type="text/html",
        name=title or "Map",
    )


def _attachment(att: _Attachment) -> tuple[str | None, Attachment | None]:
    """One Messenger attachment as (text, attachment)."""
    payload = att.payload or _Payload()
    if att.type == "location" and payload.coordinates is not None:
        lat, long = payload.coordinates.lat, payload.coordinates.long
        return f"Location: {lat},{long}", _maps_link(lat, long, att.title or payload.title)
    url = payload.url or att.url
    if url is None:
        return f"[unsupported attachment: {att.type}]", None
    if payload.sticker_id is not None:
        return "[sticker]", Attachment(url=url, content_type=_content_type(url, "image"))
    if att.type == "fallback":  # a shared link
        return att.title or payload.title, Attachment(url=url, content_type="text/html")
    name = (posixpath.basename(urlsplit(url).path) or None) if att.type == "file" else None
    return None, Attachment(url=url, content_type=_content_type(url, att.type), name=name)


class FacebookAdapter(meta.MetaAdapter[FacebookAccount]):
    """One Facebook Page: webhooks in, Send API out."""

    kind: ClassVar[ChannelKind] = ChannelKind.FACEBOOK
    # Send API: 2000 characters per text; 300 calls/s per Page for text.
    capabilities: ClassVar[Capabilities] = Capabilities(
        max_text_length=MAX_TEXT, sends_per_second=300.0
    )

    def __init__(self, account: FacebookAccount, session: aiohttp.ClientSession) -> None:
        super().__init__(account, session, account.page_access_token)

    # -- webhooks -----------------------------------------------------------------------------

    def parse(self, request: WebhookRequest) -> Sequence[InboundEvent]:
        hook = meta.load_webhook(_Webhook, request.body, "Messenger")
        if hook.object != "page":
            return []
        events: list[InboundEvent] = []
        for entry in hook.entry:
            if entry.id != self.account.page_id:
                continue  # another Page subscribed to the same app
            for event in entry.messaging:
                events.extend(self._event(event))
        return events

    def _event(self, event: _Event) -> list[InboundEvent]:
        if event.delivery is not None:
            return [
                StatusUpdate(provider_message_id=mid, status=MessageStatus.DELIVERED)
                for mid in event.delivery.mids
            ]
        if event.sender.id == self.account.page_id:
            return []  # our own message (echo) or a Page-side event
        if event.message is not None and not event.message.is_echo:
            return [self._from_message(event, event.message)]
        if event.postback is not None:
            postback = event.postback
            text = postback.title or postback.payload or "[postback]"
            mid = postback.mid or f"postback:{event.sender.id}:{event.timestamp}"
            return [self._inbound(event, mid, text, ())]
        return []  # echoes, reads, reactions, optins, referrals, ...

    def _from_message(self, event: _Event, msg: _Message) -> Message:
        texts: list[str] = []
        if msg.text:
            texts.append(msg.text)
        elif msg.quick_reply is not None and msg.quick_reply.payload:
            texts.append(msg.quick_reply.payload)
        attachments: list[Attachment] = []
        for att in msg.attachments:
            text, attachment = _attachment(att)
            if text:
                texts.append(text)
            if attachment is not None:
                attachments.append(attachment)
        if not texts and not attachments:
            texts.append("[unsupported message]")
        return self._inbound(event, msg.mid, "\n".join(texts) or None, tuple(attachments))

    def _inbound(
        self, event: _Event, mid: str, text: str | None, attachments: tuple[Attachment, ...]
    ) -> Message:
        return inbound_message(
            self.account,
            self.kind,
            message_id=meta.message_id(self.kind, self.account.id, mid),
            party_id=event.sender.id,
            text=text,
            attachments=attachments,
            provider_message_id=mid,
            created_at=meta.from_epoch(event.timestamp, millis=True),
        )

    # -- Send API -----------------------------------------------------------------------------

    @staticmethod
    def _native_choices(choices: tuple[str, ...]) -> bool:
        return (
            0 < len(choices) <= MAX_QUICK_REPLIES
            and len(set(choices)) == len(choices)
            and all(0 < len(c) <= MAX_QUICK_REPLY_TITLE for c in choices)
        )

    def _bodies(self, message: Message) -> list[dict[str, Any]]:
        """The Send API ``message`` objects for one outbound message, in order."""
        media = [a for a in message.attachments if a.url.startswith(("https://", "http://"))]
        links = tuple(a for a in message.attachments if a not in media)
        native = self._native_choices(message.choices) and bool(message.text or media)
        text = flatten(
            message.model_copy(update={"attachments": links}),
            media=False,
            choices=native,
        )
        bodies: list[dict[str, Any]] = []
        if text:
            bodies += [{"text": chunk} for chunk in split_text(text, MAX_TEXT)]
        for att in media:
            kind = att.content_type.split("/", 1)[0]
            bodies.append(
                {
                    "attachment": {
                        "type": kind if kind in ATTACHMENT_TYPES else "file",
                        "payload": {"url": att.url, "is_reusable": True},
                    }
                }
            )
        if native and bodies:
            bodies[-1]["quick_replies"] = [
                {"content_type": "text", "title": c, "payload": c[:MAX_PAYLOAD]}
                for c in message.choices
            ]
        return bodies

    async def send(self, message: Message) -> SendReceipt:
        ids: list[str] = []
        for body in self._bodies(message):
            answer = await self.graph.request(
                "POST",
                "me/messages",
                json_body={
                    "recipient": {"id": message.remote_party.id},
                    "messaging_type": "RESPONSE",
                    "message": body,
                },
            )
            mid = answer.get("message_id") if isinstance(answer, dict) else None
            if not isinstance(mid, str):
                raise PermanentSendError("Send API answered without a message_id")
            ids.append(mid)
        return SendReceipt(delivered=True, provider_message_ids=tuple(ids))

    # -- Test Connection ----------------------------------------------------------------------

    async def test_connection(self) -> ConnectionCheck:
        try:
            page = await self.graph.request("GET", "me", params={"fields": "id,name"})
        except ChannelError as exc:
            return check_from_error(exc, permanent=CheckResult.INVALID_CREDENTIALS)
        page_id = str(page.get("id", "")) if isinstance(page, dict) else ""
        name = str(page.get("name", "")) if isinstance(page, dict) else ""
        if page_id != self.account.page_id:
            return ConnectionCheck(
                result=CheckResult.INVALID_CREDENTIALS,
                detail=f"the token belongs to {name or 'another object'} ({page_id}), "
                f"not to Page {self.account.page_id}",
                account_name=name or None,
            )
        return ConnectionCheck(
            result=CheckResult.VALID,
            detail=f"connected to Page {name} ({page_id})",
            account_name=name or None,
        )


def build_adapter(account: IntegrationAccount, session: aiohttp.ClientSession) -> FacebookAdapter:
    if not isinstance(account, FacebookAccount):
        raise TypeError(f"not a Facebook account: {type(account).__name__}")
    return FacebookAdapter(account, session)
