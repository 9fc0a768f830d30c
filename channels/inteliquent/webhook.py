"""Inbound webhooks of the Message Broker: verification and parsing.

Verification is per platform and fails closed:
- ``header``: the static header registered with each number's webhook (``headerName`` /
  ``headerValue``): the name is matched case-insensitively, the value exactly, in constant time;
- ``message_id``: the ``MessageId`` header carries a random token and ``VerificationToken`` its
  hash keyed with the inbound API key: ``hmac_sha256`` (the spec: HMAC-SHA256(key, MessageId),
  hex) or ``sha256_concat`` (deployed integrations: sha256(key + MessageId), hex).

Payloads are taken liberally: numbers as strings or ints, 10 or 11 digits, with or without
``+``; ``to`` as an array (group MMS names several numbers) or a single value; every
``mediaUrls`` entry becomes an attachment. ``deliveryReceipt: true`` is a delivery receipt
for the outbound message whose ``referenceId`` it names.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import mimetypes
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from channels.base import StatusUpdate
from channels.cpaas import HeaderVerification, InboundVerification
from channels.errors import InvalidSignature, MalformedPayload
from channels.inteliquent import _wire as wire
from router.models import Attachment, Frozen, MessageStatus


class InboundSms(Frozen):
    """An SMS or MMS a customer sent to one or more numbers."""

    reference_id: str
    sender: str  # E.164
    recipients: tuple[str, ...]  # E.164, ours and others (group MMS)
    text: str | None = None
    attachments: tuple[Attachment, ...] = ()


class DeliveryReceipt(Frozen):
    """The carrier delivered one of our outbound messages."""

    update: StatusUpdate
    # The numbers the receipt names, 10-digit (ours is among them).
    numbers: tuple[str, ...]


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    wanted = name.lower()
    return next((v for k, v in headers.items() if k.lower() == wanted), None)


def verification_token(api_key: str, message_id: str, algorithm: str) -> str:
    if algorithm == "sha256_concat":
        return hashlib.sha256((api_key + message_id).encode()).hexdigest()
    return hmac.new(api_key.encode(), message_id.encode(), hashlib.sha256).hexdigest()


def verify(verification: InboundVerification, headers: Mapping[str, str]) -> None:
    """Raise ``InvalidSignature`` unless the request carries the platform's proof."""
    if isinstance(verification, HeaderVerification):
        got = _header(headers, verification.header_name)
        if got is None:
            raise InvalidSignature(f"missing the {verification.header_name} header")
        expected = verification.header_value.get_secret_value()
        if not hmac.compare_digest(got.encode(), expected.encode()):
            raise InvalidSignature(f"the {verification.header_name} header does not match")
        return
    message_id = _header(headers, "MessageId")
    token = _header(headers, "VerificationToken")
    if not message_id or not token:
        raise InvalidSignature("missing the MessageId / VerificationToken headers")
    expected = verification_token(
        verification.inbound_api_key.get_secret_value(), message_id, verification.algorithm
    )
    if not hmac.compare_digest(expected.encode(), token.strip().lower().encode()):
        raise InvalidSignature("VerificationToken does not match MessageId")


class _Payload(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)

    reference_id: str = Field(alias="referenceId", min_length=1)
    from_: str | None = Field(default=None, alias="from")
    to: tuple[str, ...] = ()
    text: str | None = None
    media_urls: tuple[str, ...] = Field(default=(), alias="mediaUrls")
    delivery_receipt: bool = Field(default=False, alias="deliveryReceipt")

    @field_validator("reference_id", "from_", mode="before")
    @classmethod
    def _scalar(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("to", "media_urls", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        if value is None:
            return ()
        if isinstance(value, str | int) and not isinstance(value, bool):
            value = [value]
        if isinstance(value, list):
            return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
        return value


def _attachment(url: str) -> Attachment:
    path = urlsplit(url).path
    content_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
    name = unquote(path.rsplit("/", 1)[-1]) or None
    return Attachment(url=url, content_type=content_type, name=name)


def parse(body: bytes) -> InboundSms | DeliveryReceipt:
    """The verified webhook body; ``MalformedPayload`` when it is not the broker's JSON."""
    try:
        data = json.loads(body)
    except ValueError:
        raise MalformedPayload("the body is not JSON") from None
    if not isinstance(data, dict):
        raise MalformedPayload("the body is not a JSON object")
    try:
        payload = _Payload.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "body"
        raise MalformedPayload(f"{where}: {err['msg']}") from None
    if payload.delivery_receipt:
        named = [payload.from_, *payload.to] if payload.from_ else list(payload.to)
        numbers = tuple(n for n in (wire.ten_digits(v) for v in named) if n is not None)
        update = StatusUpdate(
            provider_message_id=payload.reference_id, status=MessageStatus.DELIVERED
        )
        return DeliveryReceipt(update=update, numbers=numbers)
    if not payload.from_ or not wire.digits(payload.from_):
        raise MalformedPayload("from: a message needs the sender's number")
    if not payload.to:
        raise MalformedPayload("to: a message needs at least one recipient")
    return InboundSms(
        reference_id=payload.reference_id,
        sender=wire.e164(payload.from_),
        recipients=tuple(wire.e164(n) for n in payload.to),
        text=payload.text or None,
        attachments=tuple(_attachment(u) for u in payload.media_urls if u),
    )
