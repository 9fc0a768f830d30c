"""Response and request models of ``/api/v1`` that the handlers build by hand today.

Each one mirrors exactly what its handler returns (frozen, ``extra="forbid"``), so the OpenAPI
document generated from them describes the real answers; ``tests/router/test_openapi.py``
validates real responses against them. Secret-free "views" of the stored models are derived
from those models (every field but the secrets, plus ``secrets: {name: set?}``), so a field
added to a model shows up in its view and in the document without a second declaration.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union, get_args

from pydantic import BaseModel, ConfigDict, Field, RootModel, create_model

from bots.accounts import BotAccount
from channels.accounts import IntegrationAccount
from channels.base import ConnectionCheck
from channels.cpaas import AlertRecipient, CpaasNumber, CpaasPlatform
from router.config import MediaStreamConfig
from router.models import ChannelKind
from router.store.consent import BlockRecord, ConsentChange
from router.store.events import DeliveryAttempt


class ApiModel(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def derived(
    source: type[BaseModel], name: str, drop: set[str], add: dict[str, Any]
) -> type[ApiModel]:
    """``source``'s fields but ``drop``, plus ``add`` (name: type or (type, default))."""
    fields: dict[str, Any] = {
        key: (info.annotation, info) for key, info in source.model_fields.items() if key not in drop
    }
    for key, spec in add.items():
        fields[key] = spec if isinstance(spec, tuple) else (spec, ...)
    model: type[ApiModel] = create_model(name, __base__=ApiModel, __module__=__name__, **fields)
    return model


def _members(union: Any) -> tuple[type[BaseModel], ...]:
    """The model classes of an ``Annotated[A | B, Field(discriminator=...)]``."""
    return tuple(get_args(get_args(union)[0]))


# -- errors and auth ---------------------------------------------------------------------


class ErrorDetail(ApiModel):
    code: str
    message: str
    field: str | None = None


class Error(ApiModel):
    """Every ``/api/v1`` error: ``{"error": {"code", "message", "field"}}``."""

    error: ErrorDetail


class OAuthError(ApiModel):
    """RFC 6749 section 5.2 error of ``/oauth/token``."""

    error: str
    error_description: str


class TokenRequest(ApiModel):
    """``application/x-www-form-urlencoded``; ``scope`` is the tenant id. Client credentials
    may also come as HTTP Basic."""

    grant_type: Literal["password", "client_credentials"]
    scope: str
    username: str | None = None
    password: str | None = None
    client_id: str | None = None
    client_secret: str | None = None


class TokenResponse(ApiModel):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str


# -- integration accounts ----------------------------------------------------------------

Secrets = Annotated[dict[str, bool], Field(description="Each secret: set (true) or not set")]


def _account_view(model: type[BaseModel], extra: dict[str, Any]) -> type[ApiModel]:
    secrets: tuple[str, ...] = getattr(model, "SECRETS", ())
    return derived(model, f"{model.__name__}View", set(secrets), {"secrets": Secrets, **extra})


_ACCOUNT_VIEWS = tuple(_account_view(m, {}) for m in _members(IntegrationAccount))
_BOT_VIEWS = tuple(
    _account_view(m, {"remaining_calls_today": int | None}) for m in _members(BotAccount)
)


class IntegrationAccountView(RootModel[Any]):
    """An integration account without its secrets (``secrets`` says which are set)."""

    model_config = ConfigDict(frozen=True)
    root: Annotated[Union[_ACCOUNT_VIEWS], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007


class BotAccountView(RootModel[Any]):
    """A bot account without its secrets, with the daily cap's remaining calls."""

    model_config = ConfigDict(frozen=True)
    root: Annotated[Union[_BOT_VIEWS], Field(discriminator="type")]  # type: ignore[valid-type]  # noqa: UP007


class IntegrationAccountPage(ApiModel):
    items: list[IntegrationAccountView]
    total: int
    limit: int
    offset: int


class BotAccountPage(ApiModel):
    items: list[BotAccountView]
    total: int
    limit: int
    offset: int


class SetWebhookResult(ConnectionCheck):
    model_config = ConfigDict(frozen=True, extra="forbid")
    url: str


class GeneratedToken(ApiModel):
    token: str


# -- CPaaS platforms, numbers, alert recipients -------------------------------------------


class HeaderVerificationView(ApiModel):
    mode: Literal["header"]
    header_name: str


class MessageIdVerificationView(ApiModel):
    mode: Literal["message_id"]
    algorithm: Literal["hmac_sha256", "sha256_concat"]


class WebhookFailure(ApiModel):
    number: str
    error: str


class WebhookRegistrations(ApiModel):
    """After an update that changed the inbound verification: the numbers' webhooks
    registered again with it, and those that failed."""

    registered: int
    failed: list[WebhookFailure]


CpaasPlatformView = derived(
    CpaasPlatform,
    "CpaasPlatformView",
    {*CpaasPlatform.SECRETS, "inbound_verification"},
    {
        "inbound_verification": Annotated[
            HeaderVerificationView | MessageIdVerificationView, Field(discriminator="mode")
        ],
        "secrets": Secrets,
        "webhooks": (WebhookRegistrations | None, None),
    },
)


class CpaasPlatformPage(ApiModel):
    items: list[CpaasPlatformView]  # type: ignore[valid-type]
    total: int
    limit: int
    offset: int


class AlertRecipientPage(ApiModel):
    items: list[AlertRecipient]
    total: int
    limit: int
    offset: int


class NumberEffective(ApiModel):
    """The number's rules after the platform's defaults (null when the platform is gone)."""

    can_block: bool | None
    mms_available: bool | None


class NumberConsumer(ApiModel):
    kind: Literal["user", "stream"]
    id: str
    name: str


NumberView = derived(
    CpaasNumber,
    "NumberView",
    {"tenant"},
    {"effective": NumberEffective, "consumer": NumberConsumer},
)


class NumberPage(ApiModel):
    items: list[NumberView]  # type: ignore[valid-type]
    total: int
    limit: int
    offset: int


class DeletedMessages(ApiModel):
    number: str
    deleted_sessions: int


# -- SMS/MMS API, consent ledger, blocked numbers -----------------------------------------


class MessageView(ApiModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    id: str
    session_id: str
    seq: int
    channel: ChannelKind
    direction: Literal["inbound", "outbound"]
    from_: str = Field(alias="from")
    to: str
    text: str | None
    media_urls: list[str]
    status: str
    error: str | None
    created_at: str


LedgerEntry = derived(ConsentChange, "LedgerEntry", {"tenant"}, {})


class LedgerPage(ApiModel):
    items: list[LedgerEntry]  # type: ignore[valid-type]
    total: int
    limit: int
    offset: int


class ConsentState(ApiModel):
    channel: ChannelKind
    account: str
    party: str
    state: Literal["opted_out", "opted_in", "none"]
    since: str | None
    keyword: str | None
    source: Literal["keyword", "admin"] | None
    blocked: bool
    blocked_by: str | None
    blocked_at: str | None


class ConsentUpdate(ConsentState):
    changed: bool


class ConsentChangeRequest(ApiModel):
    state: Literal["opted_out", "opted_in"]
    note: str | None = Field(default=None, max_length=500)


BlockView = derived(BlockRecord, "BlockView", {"tenant"}, {})


class BlockPage(ApiModel):
    items: list[BlockView]  # type: ignore[valid-type]
    total: int
    limit: int
    offset: int


# -- media streams -------------------------------------------------------------------------

StreamView = derived(
    MediaStreamConfig,
    "StreamView",
    set(),
    {
        "open_now": bool,
        "next_open": Annotated[str | None, Field(description="ISO 8601, null while open")],
    },
)


class StreamPage(ApiModel):
    items: list[StreamView]  # type: ignore[valid-type]
    total: int
    limit: int
    offset: int


class OpenApiDocument(RootModel[dict[str, Any]]):
    """This document."""

    model_config = ConfigDict(frozen=True)


# -- event subscriptions -------------------------------------------------------------------


class SubscriptionView(ApiModel):
    """An event-webhook subscription; its signing secret is never shown back."""

    id: str
    url: str
    events: list[str]
    enabled: bool
    secret_set: bool
    created_at: str


class SubscriptionCreated(SubscriptionView):
    """The create response: the only one that carries the signing secret."""

    secret: str


class SubscriptionPage(ApiModel):
    items: list[SubscriptionView]
    total: int
    limit: int
    offset: int


class DeliveryPage(ApiModel):
    items: list[DeliveryAttempt]
    total: int
    limit: int
    offset: int
