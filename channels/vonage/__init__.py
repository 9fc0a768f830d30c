"""Vonage (Nexmo) SMS channel: the legacy SMS API (developer.vonage.com/messaging/sms)
plus the inbound side of the Messages API v1.

Inbound on one URL, told apart by their shape:
- legacy inbound SMS and delivery receipts, as a GET query string, a POST form or a POST JSON
  body (the dashboard's choice). With a signature secret on the account, every request must
  carry a valid ``sig`` (md5hash, or an md5/sha1/sha256/sha512 HMAC as configured) and a
  ``timestamp`` within 5 minutes; without one, unsigned requests are accepted, and a request
  that is signed anyway is refused (it cannot be checked);
- Messages API inbound messages and status events, with ``Authorization: Bearer <JWT>``
  (HS256 with the signature secret, ``payload_hash`` = sha256 of the raw body, ``iat`` within
  5 minutes). Only the ``sms`` and ``mms`` channels are taken.

Quirks handled: the SMS API answers HTTP 200 even on failure (``messages[].status`` != "0":
1 throttled, 4/14 credentials, 5 internal error); ``to``/``from`` are digits without "+";
text outside GSM-7 needs ``type=unicode``; Vonage itself splits up to 3200 characters into
concatenated parts, so only longer text is split here; received concatenated parts arrive
as separate webhooks and are filed as separate messages. SMS has no buttons or media:
choices become a numbered list and attachments links. Consent keywords (STOP, START,
HELP...) are not handled here: ``router.consent`` does that for every SMS channel.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import ClassVar, TypeVar

import aiohttp
from pydantic import BaseModel, ValidationError

from channels.accounts import VonageAccount
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
from channels.errors import ChannelError, InvalidSignature, MalformedPayload, PermanentSendError
from channels.http import call
from channels.inbound import inbound_message
from channels.segments import is_gsm7
from channels.vonage import _wire as wire
from router.models import Attachment, ChannelKind, Message, MessageStatus

TEXT_LIMIT = 3200
_M = TypeVar("_M", bound=BaseModel)
_RECEIPT_STATUS = {
    "delivered": MessageStatus.DELIVERED,
    "accepted": MessageStatus.SENT,
    "buffered": MessageStatus.SENT,
    "expired": MessageStatus.FAILED,
    "failed": MessageStatus.FAILED,
    "rejected": MessageStatus.FAILED,
}
_MESSAGES_STATUS = {
    "submitted": MessageStatus.SENT,
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.READ,
    "rejected": MessageStatus.FAILED,
    "undeliverable": MessageStatus.FAILED,
}


def _bearer(request: WebhookRequest) -> str | None:
    value = request.headers.get("Authorization", "")
    return value[7:].strip() if value[:7].lower() == "bearer " else None


def _validate(model: type[_M], data: object) -> _M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "body"
        raise MalformedPayload(f"{where}: {err['msg']}") from None


class VonageAdapter:
    """One Vonage account (API key) sending from one number or sender id."""

    kind: ClassVar[ChannelKind] = ChannelKind.VONAGE
    # Vonage's default outbound throughput is 30 API requests/s per account.
    capabilities: ClassVar[Capabilities] = Capabilities(
        max_text_length=TEXT_LIMIT, media=False, choices=False, sends_per_second=30.0
    )

    def __init__(self, account: VonageAccount, session: aiohttp.ClientSession) -> None:
        self.account = account
        self._session = session
        self._base = account.api_base_url.rstrip("/")

    # -- webhook ----------------------------------------------------------------------

    def verify(self, request: WebhookRequest) -> None:
        secret = self.account.signature_secret
        token = _bearer(request)
        now = time.time()
        if token is not None:
            if secret is None:
                raise InvalidSignature("signed Messages API webhook, but no signature secret set")
            problem = wire.check_jwt(token, request.body, secret.get_secret_value(), now)
        else:
            try:
                params = wire.legacy_params(request)
            except MalformedPayload:
                if secret is None:
                    return  # parse answers 400
                raise InvalidSignature("cannot read the signed parameters") from None
            if not params:
                return  # nothing to trust or file (Vonage checks a URL is up when it is saved)
            if secret is None:
                problem = "signed webhook, but no signature secret set" if "sig" in params else None
            else:
                method = self.account.signature_method
                problem = wire.check_legacy(params, secret.get_secret_value(), method, now)
        if problem is not None:
            raise InvalidSignature(problem)

    def parse(self, request: WebhookRequest) -> Sequence[InboundEvent]:
        if request.method == "POST" and request.content_type == "application/json":
            data = wire.json_object(request.body)
            if _bearer(request) is not None or "message_uuid" in data:
                return self._parse_messages_api(data)
        elif _bearer(request) is not None:
            raise MalformedPayload("the Messages API posts application/json")
        params = wire.legacy_params(request)
        if "status" in params and "messageId" in params:
            receipt = _validate(wire.LegacyReceipt, params)
            status = _RECEIPT_STATUS.get(receipt.status.lower())
            if status is None:
                return []  # "unknown": nothing to record
            reason = None
            if status is MessageStatus.FAILED:
                reason = f"{receipt.status} (err-code {receipt.err_code})"
            return [
                StatusUpdate(provider_message_id=receipt.message_id, status=status, reason=reason)
            ]
        if not {"msisdn", "messageId", "text"} & params.keys():
            return []  # not an SMS event
        inbound = _validate(wire.LegacyInbound, params)
        if inbound.type not in ("text", "unicode"):
            return []  # binary SMS (udh + data): not a chat message
        return self._inbound(inbound.msisdn, inbound.text, inbound.message_id, inbound.created_at)

    def _parse_messages_api(self, data: dict[str, object]) -> Sequence[InboundEvent]:
        if "status" in data:
            event = _validate(wire.MessagesStatus, data)
            status = _MESSAGES_STATUS.get(event.status)
            if status is None:
                return []
            reason = event.reason if status is MessageStatus.FAILED else None
            return [StatusUpdate(provider_message_id=event.message_uuid, status=status,
                                 reason=reason)]  # fmt: skip
        if "message_type" not in data:
            return []
        msg = _validate(wire.MessagesInbound, data)
        if msg.channel not in ("sms", "mms"):
            return []  # WhatsApp, Viber, Messenger through Vonage: other channels
        text, attachments = msg.content()
        if not text and not attachments:
            return []
        return self._inbound(msg.from_, text, msg.message_uuid, msg.timestamp, attachments)

    def _inbound(
        self, number: str, text: str | None, pid: str, when: datetime | None,
        attachments: tuple[Attachment, ...] = (),
    ) -> list[InboundEvent]:  # fmt: skip
        message = inbound_message(
            self.account,
            self.kind,
            party_id=number,
            text=text or None,
            attachments=attachments,
            provider_message_id=pid,
            created_at=when or datetime.now(UTC),
        )
        return [message]

    # -- outbound ---------------------------------------------------------------------

    def _from(self) -> str:
        sender = self.account.from_number
        return re.sub(r"\D", "", sender) if re.fullmatch(r"\+?[\d\s-]+", sender) else sender

    async def send(self, message: Message) -> SendReceipt:
        to = re.sub(r"\D", "", message.remote_party.id)
        if not to:
            raise PermanentSendError(f"not a phone number: {message.remote_party.id!r}")
        text = flatten(message, media=False, choices=False)
        ids: list[str] = []
        for chunk in split_text(text, TEXT_LIMIT):
            form = {
                "api_key": self.account.api_key,
                "api_secret": self.account.api_secret.get_secret_value(),
                "from": self._from(),
                "to": to,
                "text": chunk,
                "status-report-req": "true",
                "client-ref": message.id,
            }
            if not is_gsm7(chunk):
                form["type"] = "unicode"
            _, body, _ = await call(
                self._session, "POST", f"{self._base}/sms/json", data=form,
                describe=wire.describe,
            )  # fmt: skip
            try:
                answer = wire.SmsAnswer.model_validate(body)
            except ValidationError:
                raise PermanentSendError("unexpected answer from /sms/json") from None
            for part in answer.messages:
                if part.status != "0":
                    raise wire.sms_error(part)
                if part.message_id:
                    ids.append(part.message_id)
        return SendReceipt(delivered=True, provider_message_ids=tuple(ids))

    # -- account actions --------------------------------------------------------------

    async def test_connection(self) -> ConnectionCheck:
        params = {
            "api_key": self.account.api_key,
            "api_secret": self.account.api_secret.get_secret_value(),
        }
        try:
            _, body, _ = await call(
                self._session, "GET", f"{self._base}/account/get-balance", params=params,
                describe=wire.describe,
            )  # fmt: skip
        except ChannelError as exc:
            return check_from_error(exc, permanent=CheckResult.INVALID_CREDENTIALS)
        value = body.get("value") if isinstance(body, dict) else None
        if not isinstance(value, int | float):
            return ConnectionCheck(result=CheckResult.UNREACHABLE, detail="unexpected answer")
        return ConnectionCheck(result=CheckResult.VALID, detail=f"balance {value:.2f} EUR")


def build_adapter(account: VonageAccount, session: aiohttp.ClientSession) -> VonageAdapter:
    return VonageAdapter(account, session)
