"""Vonage wire formats: legacy SMS webhook parameters and their ``sig``, Messages API bodies
and their HS256 JWT, and the ``/sms/json`` answer. (The GSM-7 alphabet is in
``channels.segments``.)"""

from __future__ import annotations

import hashlib
import hmac
import json
import mimetypes
import warnings
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
from pydantic import BaseModel, ConfigDict, Field, field_validator

from channels.base import WebhookRequest
from channels.errors import (
    ChannelAuthError,
    ChannelError,
    MalformedPayload,
    PermanentSendError,
    ProviderUnavailable,
    RateLimited,
)
from router.models import Attachment

# How long to wait after status 1 "Throttled" (the answer carries no hint; 30 requests/s).
THROTTLE_RETRY_SECONDS = 1.0
# Signed webhooks older or newer than this are refused (replays, clock skew).
MAX_SKEW_SECONDS = 300


# -- legacy SMS API webhooks (query string, form or JSON) ---------------------------------


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        raise MalformedPayload("legacy SMS webhook values are flat")
    return json.dumps(value)


def json_object(body: bytes) -> dict[str, Any]:
    """A JSON webhook body, which Vonage always sends as an object."""
    try:
        data = json.loads(body)
    except ValueError:
        raise MalformedPayload("the body is not valid JSON") from None
    if not isinstance(data, dict):
        raise MalformedPayload("the JSON body must be an object")
    return data


def legacy_params(request: WebhookRequest) -> dict[str, str]:
    """The webhook's parameters: GET query string, or a POST form or JSON body (never mixed)."""
    if request.method == "GET" or not request.body:
        return dict(request.query)
    if request.content_type == "application/x-www-form-urlencoded":
        try:
            return dict(parse_qsl(request.body.decode(), keep_blank_values=True))
        except (UnicodeDecodeError, ValueError):
            raise MalformedPayload("the form body is not valid") from None
    if request.content_type == "application/json":
        return {str(k): _scalar(v) for k, v in json_object(request.body).items()}
    raise MalformedPayload(f"unexpected content type {request.content_type!r}")


def legacy_signature(params: Mapping[str, str], secret: str, method: str) -> str:
    """Vonage's ``sig``: sorted ``&k=v`` over every parameter but ``sig`` (``&``/``=`` in
    values become ``_``); md5hash appends the secret and hashes, the others are HMACs."""
    signed = "".join(
        f"&{k}={params[k].replace('&', '_').replace('=', '_')}"
        for k in sorted(params)
        if k != "sig"
    ).encode()
    if method == "md5hash":
        return hashlib.md5(signed + secret.encode()).hexdigest()
    return hmac.new(secret.encode(), signed, method).hexdigest()


def check_legacy(params: Mapping[str, str], secret: str, method: str, now: float) -> str | None:
    """Why the signed parameters are not Vonage's, or None if they are."""
    sig = params.get("sig")
    if not sig:
        return "missing sig"
    expected = legacy_signature(params, secret, method)
    if not hmac.compare_digest(sig.lower().encode(), expected.encode()):
        return "sig does not match"
    try:
        timestamp = int(params.get("timestamp", ""))
    except ValueError:
        return "signed webhook without a valid timestamp"
    if abs(now - timestamp) > MAX_SKEW_SECONDS:
        return "stale timestamp"
    return None


def check_jwt(token: str, body: bytes, secret: str, now: float) -> str | None:
    """Why a Messages API ``Authorization: Bearer`` JWT is not Vonage's, or None if it is."""
    try:
        with warnings.catch_warnings():
            # The secret's length is Vonage's choice; PyJWT warns below 32 bytes.
            warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
            claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["iat"]})
    except jwt.PyJWTError as exc:
        return f"invalid JWT: {type(exc).__name__}"
    if not isinstance(claims.get("iat"), int | float) or now - claims["iat"] > MAX_SKEW_SECONDS:
        return "stale JWT"
    claimed = claims.get("payload_hash")
    if not isinstance(claimed, str):
        return "JWT without payload_hash"
    if not hmac.compare_digest(claimed.lower().encode(), hashlib.sha256(body).hexdigest().encode()):
        return "payload_hash does not match the body"
    return None


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class LegacyInbound(_Model):
    msisdn: str = Field(min_length=1)
    to: str = ""
    message_id: str = Field(alias="messageId", min_length=1)
    text: str = ""
    type: str = "text"
    message_timestamp: str | None = Field(default=None, alias="message-timestamp")

    @property
    def created_at(self) -> datetime | None:
        try:
            return datetime.strptime(f"{self.message_timestamp} +0000", "%Y-%m-%d %H:%M:%S %z")
        except ValueError:
            return None


class LegacyReceipt(_Model):
    message_id: str = Field(alias="messageId", min_length=1)
    status: str
    err_code: str = Field(default="0", alias="err-code")


# -- Messages API (v1) --------------------------------------------------------------------


def _address(value: Any) -> Any:
    """v1 sends plain numbers; v0.1 sent ``{"type": "sms", "number": "..."}``."""
    if isinstance(value, dict):
        return value.get("number") or value.get("id")
    return value


class MessagesMedia(_Model):
    url: str
    caption: str | None = None
    name: str | None = None


_MEDIA_DEFAULTS = {
    "image": "image/jpeg",
    "audio": "audio/mpeg",
    "video": "video/mp4",
    "vcard": "text/vcard",
    "file": "application/octet-stream",
}


class MessagesInbound(_Model):
    channel: str
    message_uuid: str = Field(min_length=1)
    from_: str = Field(alias="from", min_length=1)
    to: str = ""
    timestamp: datetime | None = None
    message_type: str
    text: str | None = None
    image: MessagesMedia | None = None
    audio: MessagesMedia | None = None
    video: MessagesMedia | None = None
    file: MessagesMedia | None = None
    vcard: MessagesMedia | None = None

    @field_validator("from_", "to", mode="before")
    @classmethod
    def flatten_address(cls, value: Any) -> Any:
        return _address(value)

    @field_validator("timestamp")
    @classmethod
    def utc(cls, value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value

    def content(self) -> tuple[str | None, tuple[Attachment, ...]]:
        """The text and media of the message (a caption stands in for missing text)."""
        text, attachments = self.text, []
        for field, default in _MEDIA_DEFAULTS.items():
            media: MessagesMedia | None = getattr(self, field)
            if media is not None:
                kind = mimetypes.guess_type(urlsplit(media.url).path)[0] or default
                attachments.append(Attachment(url=media.url, content_type=kind, name=media.name))
                text = text or media.caption
        return text, tuple(attachments)


class MessagesError(_Model):
    title: str | None = None
    detail: str | None = None


class MessagesStatus(_Model):
    message_uuid: str = Field(min_length=1)
    status: str
    error: MessagesError | None = None

    @property
    def reason(self) -> str:
        err = self.error
        return (err.detail or err.title if err is not None else None) or self.status


# -- /sms/json ----------------------------------------------------------------------------


class SmsPart(_Model):
    status: str
    message_id: str | None = Field(default=None, alias="message-id")
    error_text: str | None = Field(default=None, alias="error-text")


class SmsAnswer(_Model):
    messages: list[SmsPart] = Field(min_length=1)


def sms_error(part: SmsPart) -> ChannelError:
    """The typed error for a non-zero ``status`` (HTTP 200 nevertheless)."""
    text = part.error_text or f"status {part.status}"
    if part.status == "1":  # Throttled
        return RateLimited(text, THROTTLE_RETRY_SECONDS)
    if part.status in ("4", "14"):  # Invalid credentials / invalid signature
        return ChannelAuthError(text)
    if part.status == "5":  # Internal error
        return ProviderUnavailable(text)
    return PermanentSendError(text)


def describe(body: Any) -> str | None:
    """The provider's words in any Vonage error body."""
    if not isinstance(body, dict):
        return None
    for key in ("error-code-label", "error-text", "detail", "title"):
        if isinstance(body.get(key), str):
            return str(body[key])
    messages = body.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        return str(messages[0].get("error-text")) if messages[0].get("error-text") else None
    return None
