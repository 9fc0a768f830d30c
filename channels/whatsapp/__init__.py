"""WhatsApp Cloud API (Meta) for one business phone number.

Follows developers.facebook.com/docs/whatsapp/cloud-api: webhooks (``object:
whatsapp_business_account``, ``changes[].value.messages`` / ``statuses``), the messages endpoint
``POST /{phone_number_id}/messages``, media download (``GET /{media_id}`` -> ``url`` -> ``GET url``,
both with the Bearer token) and the phone-number callback override. Quirks handled:

* Meta's GET ``hub.challenge`` handshake and ``X-Hub-Signature-256`` (``channels.meta``);
* every entry / change / message / status of a POST is returned; values for another phone
  number of the same app are ignored;
* users are keyed by ``wa_id`` (phone) when present, else by the business-scoped user id
  (``contacts[].user_id``, BSUID) that replaces it for users with a username; replies go out
  with ``to`` for a phone and ``recipient`` for a BSUID;
* media arrive as ids only: attachments point at ``provider_media_url(id)`` and are fetched
  through the account (``fetch_media``);
* statuses sent / delivered / read / failed (with ``errors[].title``) update our messages;
* outbound text is at most 4096 characters (split); up to 3 choices become reply buttons, up
  to 10 a list message, others a numbered list; attachments are sent by link.

The webhook's vendor models and their normalization live in ``channels.whatsapp.webhook``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

import aiohttp
from pydantic import ValidationError

from channels import meta
from channels.accounts import IntegrationAccount, WhatsAppAccount
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
from channels.errors import ChannelError, MalformedPayload, PermanentSendError
from channels.inbound import inbound_message
from channels.whatsapp import webhook
from router.models import Attachment, ChannelKind, Message, MessageStatus

MAX_TEXT = 4096
MAX_INTERACTIVE_BODY = 1024
MAX_BUTTONS, MAX_BUTTON_TITLE = 3, 20
MAX_ROWS, MAX_ROW_TITLE = 10, 24
LIST_BUTTON, LIST_SECTION = "Choose", "Options"
# Sendable by link as native media (others go as a document).
NATIVE_MEDIA = {"image/jpeg": "image", "image/png": "image", "video/mp4": "video",
                "video/3gpp": "video"}  # fmt: skip
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


def _status(status: webhook.Status) -> StatusUpdate:
    state = webhook.STATUSES[status.status]
    reason = webhook.failure_reason(status) if state is MessageStatus.FAILED else None
    return StatusUpdate(provider_message_id=status.id, status=state, reason=reason)


def _address(party_id: str) -> dict[str, str]:
    """Phone numbers (wa_id) go in ``to``; business-scoped user ids in ``recipient``."""
    return {"to": party_id} if party_id.isdigit() else {"recipient": party_id}


def _choice_mode(choices: tuple[str, ...]) -> str | None:
    if not choices or len(set(choices)) != len(choices):
        return None
    longest = max(len(c) for c in choices)
    if len(choices) <= MAX_BUTTONS and longest <= MAX_BUTTON_TITLE:
        return "button"
    if len(choices) <= MAX_ROWS and longest <= MAX_ROW_TITLE:
        return "list"
    return None


def _interactive_body(mode: str, text: str, choices: tuple[str, ...]) -> dict[str, Any]:
    if mode == "button":
        action: dict[str, Any] = {
            "buttons": [{"type": "reply", "reply": {"id": c, "title": c}} for c in choices]
        }
    else:
        rows = [{"id": c, "title": c} for c in choices]
        action = {"button": LIST_BUTTON, "sections": [{"title": LIST_SECTION, "rows": rows}]}
    return {"type": mode, "body": {"text": text}, "action": action}


def _media_body(att: Attachment) -> tuple[str, dict[str, Any]]:
    mime = att.content_type.split(";", 1)[0].strip().lower()
    kind = NATIVE_MEDIA.get(mime) or ("audio" if mime.startswith("audio/") else "document")
    obj: dict[str, Any] = {"link": att.url}
    if kind == "document" and att.name:
        obj["filename"] = att.name
    return kind, obj


class WhatsAppAdapter(meta.MetaAdapter[WhatsAppAccount]):
    """One WhatsApp business phone number on the Cloud API."""

    kind: ClassVar[ChannelKind] = ChannelKind.WHATSAPP
    # 4096 characters per text; 80 messages/s per business number by default.
    capabilities: ClassVar[Capabilities] = Capabilities(
        max_text_length=MAX_TEXT, sends_per_second=80.0
    )

    def __init__(self, account: WhatsAppAccount, session: aiohttp.ClientSession) -> None:
        super().__init__(account, session, account.access_token)

    # -- webhooks -----------------------------------------------------------------------------

    def parse(self, request: WebhookRequest) -> Sequence[InboundEvent]:
        try:
            values = webhook.values(request.body)
        except ValidationError as exc:
            raise MalformedPayload(f"not a WhatsApp webhook: {exc.errors()[0]['msg']}") from exc
        events: list[InboundEvent] = []
        for value in values:
            if value.metadata and value.metadata.phone_number_id != self.account.phone_number_id:
                continue  # another number of the same app
            events.extend(_status(s) for s in value.statuses if s.status in webhook.STATUSES)
            for msg in value.messages:
                message = self._message(value, msg)
                if message is not None:
                    events.append(message)
        return events

    def _message(self, value: webhook.Value, msg: webhook.InboundMessage) -> Message | None:
        if msg.type in webhook.IGNORED_TYPES:
            return None
        contact = webhook.find_contact(value, msg)
        party_id = (
            ((contact.wa_id or contact.user_id) if contact else None)
            or msg.sender
            or msg.from_user_id
        )
        if not party_id:
            return None  # nobody to answer
        name = contact.profile.name if contact and contact.profile else None
        text, attachments = webhook.content(msg)
        return inbound_message(
            self.account,
            self.kind,
            message_id=meta.message_id(self.kind, self.account.id, msg.id),
            party_id=party_id,
            party_name=name,
            text=text or None,
            attachments=attachments,
            provider_message_id=msg.id,
            created_at=meta.from_epoch(msg.timestamp),
        )

    # -- sending ------------------------------------------------------------------------------

    def _payloads(self, message: Message) -> list[tuple[str, dict[str, Any]]]:
        """(type, object) of each Cloud API message for one outbound message, in order."""
        media = [a for a in message.attachments if a.url.startswith(("https://", "http://"))]
        links = tuple(a for a in message.attachments if a not in media)
        mode = _choice_mode(message.choices) if message.text else None
        text = flatten(
            message.model_copy(update={"attachments": links}), media=False, choices=bool(mode)
        )
        chunks = split_text(text, MAX_TEXT) if text else []
        last: str | None = None
        if mode and chunks:
            parts = split_text(chunks.pop(), MAX_INTERACTIVE_BODY)
            chunks += parts[:-1]
            last = parts[-1]
        out: list[tuple[str, dict[str, Any]]] = [
            ("text", {"preview_url": False, "body": chunk}) for chunk in chunks
        ]
        if mode and last is not None:
            out.append(("interactive", _interactive_body(mode, last, message.choices)))
        out += [_media_body(att) for att in media]
        return out

    async def send(self, message: Message) -> SendReceipt:
        ids: list[str] = []
        address = _address(message.remote_party.id)
        for kind, obj in self._payloads(message):
            body = {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                **address,
                "type": kind,
                kind: obj,
            }
            answer = await self.graph.request(
                "POST", f"{self.account.phone_number_id}/messages", json_body=body
            )
            try:
                ids.append(str(answer["messages"][0]["id"]))
            except (KeyError, IndexError, TypeError) as exc:
                raise PermanentSendError("Cloud API answered without a message id") from exc
        return SendReceipt(delivered=True, provider_message_ids=tuple(ids))

    async def fetch_media(self, media_id: str) -> tuple[bytes, str]:
        if not _ID.match(media_id):
            raise PermanentSendError("invalid media id")
        info = await self.graph.request("GET", media_id)
        url = info.get("url") if isinstance(info, dict) else None
        if not isinstance(url, str):
            raise PermanentSendError("Graph returned no media URL")
        data, content_type = await self.graph.download(url)
        mime = info.get("mime_type")
        return data, (mime.split(";", 1)[0].strip() if isinstance(mime, str) else content_type)

    # -- Test Connection / Set Webhook --------------------------------------------------------

    async def test_connection(self) -> ConnectionCheck:
        try:
            phone = await self.graph.request(
                "GET",
                self.account.phone_number_id,
                params={"fields": "id,verified_name,display_phone_number"},
            )
        except ChannelError as exc:
            return check_from_error(exc, permanent=CheckResult.INVALID_CREDENTIALS)
        info = phone if isinstance(phone, dict) else {}
        name = str(info.get("verified_name") or "") or None
        number = str(info.get("display_phone_number") or "")
        return ConnectionCheck(
            result=CheckResult.VALID,
            detail=f"connected to {name or 'phone number'} {number}".strip(),
            account_name=name,
        )

    async def set_webhook(self, url: str) -> ConnectionCheck:
        """Point this number's webhooks at ``url`` (Meta's phone-number callback override);
        Meta verifies it at once with the account's verify token."""
        config = {
            "override_callback_uri": url,
            "verify_token": self.account.verify_token.get_secret_value(),
        }
        try:
            await self.graph.request(
                "POST", self.account.phone_number_id, json_body={"webhook_configuration": config}
            )
        except ChannelError as exc:
            return check_from_error(exc, permanent=CheckResult.INVALID_CREDENTIALS)
        return ConnectionCheck(
            result=CheckResult.VALID,
            detail=f"callback URL set for phone number {self.account.phone_number_id}",
        )


def build_adapter(account: IntegrationAccount, session: aiohttp.ClientSession) -> WhatsAppAdapter:
    if not isinstance(account, WhatsAppAccount):
        raise TypeError(f"not a WhatsApp account: {type(account).__name__}")
    return WhatsAppAdapter(account, session)
