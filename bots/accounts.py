"""Bot accounts: one per AWS Lex / IBM Watson Assistant bot, with its console's properties.

Declared in the config file or managed through ``/api/v1/bot-accounts`` and kept in the
store. Secrets are ``SecretStr``: written, used to call the engine, never returned or logged
(``public_view`` shows only whether each one is set). Every endpoint is configurable so the
engines can be pointed at a fake (tests) or a private endpoint.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, TypeAdapter, field_validator

from bots.base import BotKind

AccountId = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
]
Url = Annotated[str, Field(pattern=r"^https?://[^\s]+$", max_length=500)]
Region = Annotated[str, Field(pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$", max_length=32)]

WATSON_LEGACY_VERSION = "2018-09-20"


class _BotAccount(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    SECRETS: ClassVar[tuple[str, ...]] = ()

    id: AccountId
    tenant: str = ""
    name: str = Field(min_length=1, max_length=100)
    # "Max API calls per day": the hard cap, counted across all processes (0 = bot never called).
    max_api_calls_per_day: int = Field(ge=0)
    # Per-call timeout: a slower bot is skipped and the customer goes to an agent.
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)

    @property
    def kind(self) -> BotKind:
        return BotKind(getattr(self, "type"))  # noqa: B009 - every subclass has a literal type

    def public_view(self) -> dict[str, Any]:
        """Everything but secrets; each secret is reported as set / not set."""
        data = self.model_dump(mode="json", exclude=set(self.SECRETS))
        data["secrets"] = {name: getattr(self, name) is not None for name in self.SECRETS}
        return data


class LexAccount(_BotAccount):
    """AWS Lex V2 (RecognizeText)."""

    SECRETS: ClassVar[tuple[str, ...]] = ("secret_key",)
    type: Literal["lex"] = "lex"
    aws_account_id: str = Field(default="", pattern=r"^$|^\d{12}$")
    bot_id: str = Field(min_length=1, max_length=10, pattern=r"^[0-9a-zA-Z]+$")
    bot_alias_id: str = Field(min_length=1, max_length=10, pattern=r"^[0-9a-zA-Z]+$")
    locale_id: str = Field(default="en_US", min_length=1, max_length=16)
    region: Region
    access_key: str = Field(min_length=1, max_length=128)
    secret_key: SecretStr
    endpoint_url: Url | None = None

    @property
    def endpoint(self) -> str:
        return (self.endpoint_url or f"https://runtime-v2-lex.{self.region}.amazonaws.com").rstrip(
            "/"
        )


class LexV1Account(_BotAccount):
    """AWS Lex V1 (PostText), for legacy bots."""

    SECRETS: ClassVar[tuple[str, ...]] = ("secret_key",)
    type: Literal["lex_v1"] = "lex_v1"
    aws_account_id: str = Field(default="", pattern=r"^$|^\d{12}$")
    bot_name: str = Field(min_length=1, max_length=50)
    bot_alias: str = Field(min_length=1, max_length=100)
    region: Region
    access_key: str = Field(min_length=1, max_length=128)
    secret_key: SecretStr
    endpoint_url: Url | None = None

    @property
    def endpoint(self) -> str:
        return (self.endpoint_url or f"https://runtime.lex.{self.region}.amazonaws.com").rstrip("/")


class WatsonAccount(_BotAccount):
    """IBM Watson Assistant with an IAM API key (token exchange, cached)."""

    SECRETS: ClassVar[tuple[str, ...]] = ("api_key",)
    type: Literal["watson"] = "watson"
    url: Url  # the service instance URL
    skill_id: str = Field(min_length=1, max_length=64)
    api_key: SecretStr
    iam_url: Url = "https://iam.cloud.ibm.com/identity/token"
    version: str = Field(default="2021-06-14", pattern=r"^\d{4}-\d{2}-\d{2}$")
    max_suggestions: int = Field(default=3, ge=1, le=10)


class WatsonLegacyAccount(_BotAccount):
    """Watson Assistant (Legacy): Basic auth; the URL carries the ``version`` parameter."""

    SECRETS: ClassVar[tuple[str, ...]] = ("password",)
    type: Literal["watson_legacy"] = "watson_legacy"
    # The `version` query parameter is added by default and can be changed in the URL.
    url: Url
    skill_id: str = Field(min_length=1, max_length=64)
    username: str = Field(min_length=1, max_length=128)
    password: SecretStr
    max_suggestions: int = Field(default=3, ge=1, le=10)

    @field_validator("url")
    @classmethod
    def _add_version(cls, value: str) -> str:
        parts = urlsplit(value)
        query = parse_qsl(parts.query, keep_blank_values=True)
        if not any(k == "version" for k, _ in query):
            query.append(("version", WATSON_LEGACY_VERSION))
        return urlunsplit(parts._replace(query=urlencode(query)))

    @property
    def base_url(self) -> str:
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(query="", fragment="")).rstrip("/")

    @property
    def version(self) -> str:
        return dict(parse_qsl(urlsplit(self.url).query)).get("version", WATSON_LEGACY_VERSION)


BotAccount = Annotated[
    LexAccount | LexV1Account | WatsonAccount | WatsonLegacyAccount,
    Field(discriminator="type"),
]
BOT_ACCOUNT: TypeAdapter[BotAccount] = TypeAdapter(BotAccount)


def dump_bot_account(account: BotAccount) -> str:
    """Serialize with secrets, for the store only."""
    data = account.model_dump(mode="json")
    for name in account.SECRETS:
        value = getattr(account, name)
        data[name] = value.get_secret_value() if value is not None else None
    return json.dumps(data, separators=(",", ":"))


def load_bot_account(raw: str | bytes) -> BotAccount:
    return BOT_ACCOUNT.validate_json(raw)
