"""The channel boundary: what every provider adapter offers the rest of Switchboard.

An adapter is built per integration account with the shared HTTP session and the account's
base URL. It verifies and parses webhooks (pure functions over the raw request, before any
JSON is trusted) into normalized events, and sends outbound messages in the provider's wire
format. Vendor payloads never leave the adapter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import ClassVar, Literal, Protocol, runtime_checkable

from pydantic import SecretStr

from channels.errors import ChannelAuthError, ChannelError, PermanentSendError
from router.models import ChannelKind, Frozen, Message, MessageStatus


@dataclass(frozen=True)
class WebhookRequest:
    """A webhook as received; built by ``router.webhooks``, adapters never see aiohttp."""

    method: str
    headers: Mapping[str, str]  # case-insensitive mapping
    query: Mapping[str, str]
    body: bytes
    content_type: str
    url: str
    remote: str | None = None


class StatusUpdate(Frozen):
    """The provider reports on one of our outbound messages."""

    provider_message_id: str
    status: MessageStatus
    reason: str | None = None


class Unsubscribed(Frozen):
    """The remote party blocked or unfollowed us on this account: stop sending to them."""

    party_id: str
    reason: str


class Resubscribed(Frozen):
    """The remote party can be reached again (followed / subscribed again)."""

    party_id: str


class ReplyToken(Frozen):
    """A provider's single-use handle for answering the remote party (LINE's reply token:
    a reply with it is free, a push is not). Kept by the store until ``expires_at`` for the
    next send to that party, whichever process makes it (``SupportsReplyTokens``)."""

    party_id: str
    token: SecretStr
    expires_at: datetime


InboundEvent = Message | StatusUpdate | Unsubscribed | Resubscribed | ReplyToken


class SendReceipt(Frozen):
    """What the provider said about one outbound message."""

    delivered: bool
    # One per provider message (a long text may go out as several).
    provider_message_ids: tuple[str, ...] = ()
    detail: str | None = None


class CheckResult(StrEnum):
    VALID = "valid"
    INVALID_CREDENTIALS = "invalid_credentials"
    FORBIDDEN = "forbidden"
    UNREACHABLE = "unreachable"


class ConnectionCheck(Frozen):
    """The answer of Test Connection, with the provider's own words."""

    result: CheckResult
    detail: str = ""
    account_name: str | None = None


def check_from_error(
    exc: ChannelError, *, permanent: CheckResult = CheckResult.UNREACHABLE
) -> ConnectionCheck:
    """The Test Connection / Set Webhook answer for a failed provider call, in its own words.

    Refused credentials are ``INVALID_CREDENTIALS`` (``FORBIDDEN`` for a 403-like refusal);
    rate limits, outages and anything else are ``UNREACHABLE``, except that a provider whose
    permanent refusals mean something more precise passes ``permanent`` for
    ``PermanentSendError``.
    """
    if isinstance(exc, ChannelAuthError):
        result = CheckResult.FORBIDDEN if exc.forbidden else CheckResult.INVALID_CREDENTIALS
    elif isinstance(exc, PermanentSendError):
        result = permanent
    else:
        result = CheckResult.UNREACHABLE
    return ConnectionCheck(result=result, detail=str(exc))


class Capabilities(Frozen):
    """What a channel can carry natively; the rest is degraded (``channels.degrade``)."""

    max_text_length: int
    media: bool = True
    choices: bool = True
    # Provider rate limit for sends per account (per second); None = no limit enforced.
    sends_per_second: float | None = None
    # Webhooks hand out ``ReplyToken``s and sends may use them (``SupportsReplyTokens``).
    reply_tokens: bool = False


class WebhookAnswer(Frozen):
    """A webhook answered without events (handshake, provider check callback)."""

    status: int = 200
    body: str = ""
    content_type: Literal["text/plain", "application/json"] = "text/plain"


class ChannelAdapter(Protocol):
    kind: ClassVar[ChannelKind]
    capabilities: ClassVar[Capabilities]

    async def send(self, message: Message) -> SendReceipt:
        """Deliver one outbound message (already filed in its session) to the remote party.

        Raises ``channels.errors`` exceptions; the outbound worker maps them to retry or
        dead-letter.
        """


@runtime_checkable
class WebhookAdapter(ChannelAdapter, Protocol):
    def verify(self, request: WebhookRequest) -> None:
        """Check the request's signature on the raw bytes; raise ``InvalidSignature``."""

    def parse(self, request: WebhookRequest) -> Sequence[InboundEvent]:
        """Turn a verified webhook into normalized events ([] if nothing to do).

        Raises ``MalformedPayload`` for a body that is not what the provider sends.
        """

    async def test_connection(self) -> ConnectionCheck:
        """Call the provider with the account's credentials; never raises."""


@runtime_checkable
class SupportsHandshake(Protocol):
    def handshake(self, request: WebhookRequest) -> WebhookAnswer | None:
        """Answer a verification request (Meta GET hub.challenge, Viber check); else None."""


@runtime_checkable
class SupportsWebhookRegistration(Protocol):
    async def set_webhook(self, url: str) -> ConnectionCheck:
        """Register ``url`` with the provider (Telegram, Viber, LINE)."""


@runtime_checkable
class SupportsReplyTokens(Protocol):
    async def send_reply(self, message: Message, token: str) -> SendReceipt:
        """``send``, answering with the party's latest ``ReplyToken`` (taken from the store,
        so used once); falls back to ``send``'s way when the provider refuses the token."""


@runtime_checkable
class SupportsMediaDownload(Protocol):
    async def fetch_media(self, media_id: str) -> tuple[bytes, str]:
        """Download media the provider serves only with the account's credentials."""
