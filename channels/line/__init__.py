"""LINE Messaging API adapter (developers.line.biz/en/reference/messaging-api/).

Quirks handled: ``X-Line-Signature`` is base64 (not hex) HMAC-SHA256 of the raw body; the
console's Verify sends a signed ``"events": []`` (answered 200). Replies are free but need the
event's reply token (single use, about a minute): ``parse`` hands each one out as a
``ReplyToken`` valid for ``REPLY_TOKEN_TTL``, the store keeps the latest per chat, and the next
send to that chat takes it (``send_reply``), in whichever process sends; without one, or on
``400 {"message": "Invalid reply token"}``, the message is pushed. Pushes carry an
``X-Line-Retry-Key`` derived from our message id, so a broker retry of an already accepted
push gets 409 with ``sentMessages`` instead of a duplicate. At most 5 message objects per
request; text split at 5000 UTF-16 units; https JPEG/PNG attachments as image messages, others
as links; up to 13 choices of up to 20 characters as quick replies, else a numbered list. User
media stored by LINE is fetched from the data API with the token (``fetch_media``); external
media keeps its URL. No delivery receipts exist; ``unfollow`` (blocked) marks the contact
unreachable, ``follow`` reachable again; ``standby`` mode events (another module channel has
chat control) are ignored.

The webhook's vendor models, signature and normalization live in ``channels.line._wire``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

import aiohttp

from channels.accounts import LineAccount
from channels.base import (
    Capabilities,
    CheckResult,
    ConnectionCheck,
    InboundEvent,
    ReplyToken,
    Resubscribed,
    SendReceipt,
    Unsubscribed,
    WebhookRequest,
    check_from_error,
)
from channels.degrade import choices_as_text, flatten, split_text
from channels.errors import (
    ChannelAuthError,
    ChannelError,
    MalformedPayload,
    PermanentSendError,
    ProviderUnavailable,
    RateLimited,
)
from channels.http import DEFAULT_TIMEOUT, Describe, call, retry_after
from channels.inbound import inbound_message
from channels.line import _wire as wire
from router.models import Attachment, ChannelKind, Message

TEXT_LIMIT = 5000  # UTF-16 code units
MESSAGES_PER_REQUEST = 5
QUICK_REPLY_ITEMS = 13
QUICK_REPLY_LABEL = 20
IMAGE_TYPES = ("image/jpeg", "image/png")
# LINE documents "within one minute"; keep a margin for clock and queueing.
REPLY_TOKEN_TTL = 50.0
INVALID_REPLY_TOKEN = "Invalid reply token"
_RETRY_KEY_NS = uuid.UUID("6f1c2a52-5d0e-4c43-9a55-3a1f0c6f6c01")
_MEDIA_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _chunks(text: str) -> list[str]:
    out: list[str] = []
    for chunk in split_text(text, TEXT_LIMIT):
        # Characters outside the BMP count twice; half the limit always fits.
        out.extend([chunk] if _utf16_len(chunk) <= TEXT_LIMIT else split_text(chunk, 2500))
    return out


def _is_native_image(a: Attachment) -> bool:
    return a.content_type in IMAGE_TYPES and a.url.startswith("https://") and len(a.url) <= 2000


class LineAdapter:
    """One LINE Messaging API channel (channel access token + channel secret)."""

    kind: ClassVar[ChannelKind] = ChannelKind.LINE
    # Reply/push: 2,000 requests per second per channel.
    capabilities: ClassVar[Capabilities] = Capabilities(
        max_text_length=TEXT_LIMIT, sends_per_second=2000.0, reply_tokens=True
    )

    def __init__(self, account: LineAccount, session: aiohttp.ClientSession) -> None:
        self.account = account
        self.session = session

    # -- webhook --------------------------------------------------------------------------

    def verify(self, request: WebhookRequest) -> None:
        wire.verify_signature(
            request.headers.get(wire.SIGNATURE_HEADER),
            request.body,
            self.account.channel_secret.get_secret_value(),
        )

    def parse(self, request: WebhookRequest) -> Sequence[InboundEvent]:
        out: list[InboundEvent] = []
        for event in wire.events(request.body):
            out.extend(self._event(event))
        return out

    def _event(self, event: wire.Event) -> list[InboundEvent]:
        chat = event.source.chat
        assert chat is not None
        if event.type == "unfollow":
            return [Unsubscribed(party_id=chat, reason="unfollowed")]
        out: list[InboundEvent] = []
        if event.reply_token and not event.delivery_context.is_redelivery:
            # First, so it is kept before the message is queued (and answered).
            expires = datetime.now(UTC) + timedelta(seconds=REPLY_TOKEN_TTL)
            out.append(ReplyToken(party_id=chat, token=event.reply_token, expires_at=expires))
        if event.type == "follow":
            return [*out, Resubscribed(party_id=chat)]
        if event.type == "postback":
            if event.postback is None:
                raise MalformedPayload("postback event without postback")
            return [*out, self._message(event, event.webhook_event_id, event.postback.data, ())]
        if event.message is None:
            raise MalformedPayload("message event without message")
        text, attachments = wire.content(event.message)
        return [*out, self._message(event, event.message.id, text, attachments)]

    def _message(
        self,
        event: wire.Event,
        provider_id: str,
        text: str | None,
        attachments: tuple[Attachment, ...],
    ) -> Message:
        chat = event.source.chat
        assert chat is not None
        return inbound_message(
            self.account,
            self.kind,
            party_id=chat,
            sender_id=event.source.user_id or chat,
            text=text,
            attachments=attachments,
            provider_message_id=provider_id,
            created_at=datetime.fromtimestamp(event.timestamp / 1000, tz=UTC),
        )

    # -- outbound -------------------------------------------------------------------------

    @property
    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.account.channel_access_token.get_secret_value()}"}

    def _url(self, path: str) -> str:
        return self.account.api_base_url.rstrip("/") + path

    def render(self, message: Message) -> list[dict[str, Any]]:
        """The LINE message objects for one outbound message, in order."""
        images = [a for a in message.attachments if _is_native_image(a)]
        others = tuple(a for a in message.attachments if not _is_native_image(a))
        choices = message.choices
        native = 0 < len(choices) <= QUICK_REPLY_ITEMS and all(
            len(c) <= QUICK_REPLY_LABEL for c in choices
        )
        text = flatten(
            message.model_copy(update={"attachments": others}), media=False, choices=native
        )
        if not text and not images and choices:
            text = choices_as_text(choices)
        out: list[dict[str, Any]] = (
            [{"type": "text", "text": c} for c in _chunks(text)] if text else []
        )
        out += [
            {"type": "image", "originalContentUrl": a.url, "previewImageUrl": a.url} for a in images
        ]
        if native and out:
            items = [
                {"type": "action", "action": {"type": "message", "label": c, "text": c}}
                for c in choices
            ]
            out[-1] = {**out[-1], "quickReply": {"items": items}}
        return out

    async def send(self, message: Message) -> SendReceipt:
        return await self.send_reply(message, None)

    async def send_reply(self, message: Message, token: str | None) -> SendReceipt:
        """The first request answers with ``token`` when there is one, the rest are pushed."""
        to = message.remote_party.id
        objects = self.render(message)
        if not objects:
            raise PermanentSendError("nothing to send")
        ids: list[str] = []
        for index in range(0, len(objects), MESSAGES_PER_REQUEST):
            batch = objects[index : index + MESSAGES_PER_REQUEST]
            if index == 0 and token is not None:
                try:
                    ids += await self._post(
                        "/v2/bot/message/reply", {"replyToken": token, "messages": batch}
                    )
                    continue
                except PermanentSendError as exc:
                    if not str(exc).startswith(INVALID_REPLY_TOKEN):
                        raise
            key = str(uuid.uuid5(_RETRY_KEY_NS, f"{message.id}:{index}"))
            ids += await self._post(
                "/v2/bot/message/push", {"to": to, "messages": batch}, {"X-Line-Retry-Key": key}
            )
        return SendReceipt(delivered=True, provider_message_ids=tuple(ids))

    async def _api(
        self, method: str, path: str, body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None, describe: Describe = wire.describe,
    ) -> Any:  # fmt: skip
        headers = {**self._auth, **(headers or {})}
        url = self._url(path)
        _, data, _ = await call(
            self.session, method, url, json=body, headers=headers, describe=describe
        )
        return data

    async def _post(
        self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> list[str]:
        try:
            data = await self._api("POST", path, body, headers, describe=wire.describe_push)
        except wire.AlreadyAcceptedError as exc:
            return list(exc.ids)
        sent = data.get("sentMessages") if isinstance(data, dict) else None
        return [str(m["id"]) for m in sent or () if isinstance(m, dict) and "id" in m]

    # -- account --------------------------------------------------------------------------

    async def test_connection(self) -> ConnectionCheck:
        try:
            info = await self._api("GET", "/v2/bot/info")
        except ChannelError as exc:
            return check_from_error(exc)
        info = info if isinstance(info, dict) else {}
        name = info.get("displayName")
        basic = info.get("basicId")
        detail = f"LINE bot {name}" + (f" ({basic})" if basic else "")
        return ConnectionCheck(result=CheckResult.VALID, detail=detail, account_name=name)

    async def set_webhook(self, url: str) -> ConnectionCheck:
        """Set the channel's webhook URL, then have LINE test it (the console's Verify)."""
        try:
            await self._api("PUT", "/v2/bot/channel/webhook/endpoint", {"endpoint": url})
            result = await self._api("POST", "/v2/bot/channel/webhook/test", {"endpoint": url})
        except ChannelError as exc:
            return check_from_error(exc)
        result = result if isinstance(result, dict) else {}
        if result.get("success") is True:
            return ConnectionCheck(
                result=CheckResult.VALID,
                detail=f"webhook set; LINE's test call got HTTP {result.get('statusCode')}",
            )
        reason = " ".join(str(result.get(k) or "") for k in ("reason", "detail")).strip()
        return ConnectionCheck(
            result=CheckResult.UNREACHABLE,
            detail=f"webhook set, but LINE's test call failed: {reason or 'no answer'}",
        )

    async def fetch_media(self, media_id: str) -> tuple[bytes, str]:
        """Content of a user's image/video/audio/file from the data API (Bearer token)."""
        if not _MEDIA_ID.match(media_id):
            raise PermanentSendError("not a LINE message id")
        url = (
            f"{self.account.data_api_base_url.rstrip('/')}/v2/bot/message/"
            f"{quote(media_id, safe='')}/content"
        )
        # Binary body: channels.http.call would decode it as text; same status mapping here.
        try:
            async with self.session.get(url, headers=self._auth, timeout=DEFAULT_TIMEOUT) as resp:
                raw = await resp.read()
                status, headers, ctype = resp.status, resp.headers, resp.content_type
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise ProviderUnavailable(f"provider unreachable: {type(exc).__name__}") from exc
        if 200 <= status < 300:
            return raw, ctype or "application/octet-stream"
        try:
            detail = wire.describe(json.loads(raw)) or f"HTTP {status}"
        except (ValueError, KeyError, TypeError):
            detail = f"HTTP {status}"
        if status == 429:
            raise RateLimited(detail, retry_after(headers))
        if status in (401, 403):
            raise ChannelAuthError(detail, forbidden=status == 403)
        if status >= 500:
            raise ProviderUnavailable(detail)
        raise PermanentSendError(detail)


def build_adapter(account: LineAccount, session: aiohttp.ClientSession) -> LineAdapter:
    return LineAdapter(account, session)
