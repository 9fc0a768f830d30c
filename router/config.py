"""The YAML configuration file: tenants, queues, agents, not-ready reasons, media streams.

It is validated as a whole before anything is applied; a bad field stops start-up with
``ConfigError`` naming the field (``tenants[0].agents[1].capacity: …``). Applying it is
idempotent (``router.provisioning``), so every process may apply the same file at start-up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from bots.accounts import BotAccount
from channels.accounts import IntegrationAccount
from channels.cpaas import (
    AlertRecipient,
    CpaasPlatform,
    MessagingType,
    NumberTarget,
    StreamTarget,
    UserTarget,
    UsNumber,
    normalize_us_number,
)
from router.errors import ConfigError
from router.hours import Availability, with_default_zone
from router.models import ChannelKind

Ident = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")]
_IDENT = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class QueueConfig(_Model):
    id: Ident
    name: str = ""
    # How long an agent has to answer an offer before it goes to the next agent.
    offer_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)


class AgentConfig(_Model):
    id: Ident
    name: str = ""
    username: str = Field(min_length=1, max_length=128)
    password: SecretStr | None = None
    # scrypt hash as written by ``router.passwords.hash_password``; use instead of ``password``.
    password_hash: str | None = None
    role: Literal["agent", "supervisor", "tenant_admin"] = "agent"
    capacity: int = Field(default=1, ge=1, le=100)
    skills: tuple[str, ...] = ()
    queues: tuple[Ident, ...] = ()

    @model_validator(mode="after")
    def _one_credential(self) -> Self:
        if (self.password is None) == (self.password_hash is None):
            raise ValueError("give exactly one of password or password_hash")
        return self


class ApiUserConfig(_Model):
    """An integrator: OAuth2 client-credentials client of one tenant."""

    client_id: str = Field(min_length=1, max_length=128)
    client_secret: SecretStr = Field(min_length=16)
    name: str = ""
    # Role privileges: "use_sms_api" = Use SMS/MMS API (``/api/v1/sms/messages``).
    privileges: tuple[Literal["use_sms_api"], ...] = ()


PERSON_KEYWORDS = ("agent", "human", "person", "representative", "operator")


class BotModeConfig(_Model):
    """A media stream's bot (``router.bots``): which account, and what it does."""

    account: str = Field(min_length=1, max_length=64)
    mode: Literal["self_service", "routing", "agent_assist", "self_service_and_assist"]
    # Intents that hand a self-service conversation to an agent.
    handoff_intents: tuple[str, ...] = ()
    # A self-service answer less sure than this hands off (engines without a score: ignored).
    confidence_threshold: float = Field(default=0.4, ge=0, le=1)
    # Routing: detected intent -> queue (else the stream's queue).
    intent_queues: dict[str, Ident] = Field(default_factory=dict)
    # Words by which the customer asks for a person (whole words, case-insensitive).
    person_keywords: tuple[str, ...] = PERSON_KEYWORDS


class MediaStreamConfig(_Model):
    id: Ident
    name: str = ""
    media: ChannelKind = ChannelKind.WEBCHAT
    # The integration account the stream is fed by; web chat needs none.
    account: str | None = None
    language: str = "en"
    queue: Ident
    priority: int = Field(default=0, ge=0, le=9)
    skills: tuple[str, ...] = ()
    can_transfer: bool = True
    can_escalate: bool = False
    # Where ``escalate`` sends a conversation (needed when can_escalate is on).
    escalation_queue: Ident | None = None
    use_last_agent: bool = False
    reopen_on_reply: bool = True
    reopen_window_seconds: float = Field(default=600.0, ge=0)
    inactivity_timeout_seconds: float = Field(default=1800.0, gt=0)
    # Agents may block remote numbers (SMS streams); None = the CPaaS number's / platform's
    # setting (a Vonage stream without it: no blocking).
    can_block_numbers: bool | None = None
    # Business hours (router.hours); the time zone defaults to the tenant's.
    availability: Availability = Field(default_factory=Availability)
    initial_reply: str | None = None
    # Sent instead of initial_reply when a conversation opens outside business hours.
    after_hours_reply: str | None = None
    # A bot account's mode on this stream (self-service, routing, agent assist).
    bot: BotModeConfig | None = None

    @model_validator(mode="after")
    def _escalation_target(self) -> Self:
        if self.can_escalate and self.escalation_queue is None:
            raise ValueError("can_escalate needs an escalation_queue")
        return self


SMS_STOP_REPLY = (
    "You have been unsubscribed and will receive no more messages from this number. "
    "Reply START to resubscribe."
)
SMS_START_REPLY = (
    "You have been resubscribed and will receive messages from this number again. "
    "Reply STOP to unsubscribe."
)
SMS_HELP_TEXT = (
    "Reply to this message and an agent will answer. Msg&data rates may apply. "
    "Reply STOP to unsubscribe."
)


class NumberConfig(_Model):
    """A CPaaS number (``router.numbers``): a user's personal inbox or a media stream's."""

    number: UsNumber
    friendly_name: str = Field(default="", max_length=100)
    # The CPaaS platform's id; may be left out when the tenant has exactly one.
    platform: str = ""
    messaging_type: MessagingType = MessagingType.SMS
    can_block: bool | None = None
    mms_available: bool | None = None
    target: NumberTarget

    @field_validator("number", mode="before")
    @classmethod
    def _normalize(cls, value: object) -> object:
        return normalize_us_number(value) if isinstance(value, str | int) else value


class TenantConfig(_Model):
    id: Ident
    name: str = ""
    time_zone: str = "UTC"
    not_ready_reasons: tuple[str, ...] = ("Break", "Lunch", "Meeting", "Training")
    queues: tuple[QueueConfig, ...] = ()
    agents: tuple[AgentConfig, ...] = ()
    api_users: tuple[ApiUserConfig, ...] = ()
    media_streams: tuple[MediaStreamConfig, ...] = ()
    integration_accounts: tuple[IntegrationAccount, ...] = ()
    bot_accounts: tuple[BotAccount, ...] = ()
    numbers: tuple[NumberConfig, ...] = ()
    # CPaaS platforms (applied without a provider check) and who receives alert emails.
    cpaas_platforms: tuple[CpaasPlatform, ...] = ()
    alert_recipients: tuple[AlertRecipient, ...] = ()
    # Answers to SMS consent keywords (router.consent): STOP..., START..., HELP/INFO.
    sms_stop_reply: str = Field(default=SMS_STOP_REPLY, min_length=1, max_length=1600)
    sms_start_reply: str = Field(default=SMS_START_REPLY, min_length=1, max_length=1600)
    sms_help_text: str = Field(default=SMS_HELP_TEXT, min_length=1, max_length=1600)

    @model_validator(mode="before")
    @classmethod
    def _stream_zones(cls, data: Any) -> Any:
        streams = data.get("media_streams") if isinstance(data, dict) else None
        if not isinstance(streams, list | tuple):
            return data
        zone = data.get("time_zone", "UTC")
        return {**data, "media_streams": [with_default_zone(s, zone) for s in streams]}

    @field_validator("time_zone")
    @classmethod
    def _zone_exists(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _references(self) -> Self:
        queue_ids = [q.id for q in self.queues]
        _unique("queues", queue_ids)
        _unique("agents", [a.id for a in self.agents])
        _unique("agents (username)", [a.username for a in self.agents])
        _unique("media_streams", [s.id for s in self.media_streams])
        _unique("api_users", [u.client_id for u in self.api_users])
        known = set(queue_ids)
        for i, agent in enumerate(self.agents):
            for q in agent.queues:
                if q not in known:
                    raise ValueError(f"agents[{i}].queues: unknown queue {q!r}")
        for i, stream in enumerate(self.media_streams):
            if stream.queue not in known:
                raise ValueError(f"media_streams[{i}].queue: unknown queue {stream.queue!r}")
            if stream.escalation_queue is not None and stream.escalation_queue not in known:
                raise ValueError(
                    f"media_streams[{i}].escalation_queue: "
                    f"unknown queue {stream.escalation_queue!r}"
                )
        streams = {s.id: s for s in self.media_streams}
        _unique("integration_accounts", [a.id for a in self.integration_accounts])
        _unique("integration_accounts (name)", [a.name for a in self.integration_accounts])
        for i, account in enumerate(self.integration_accounts):
            fed = streams.get(account.stream)
            if fed is None:
                raise ValueError(
                    f"integration_accounts[{i}].stream: unknown media stream {account.stream!r}"
                )
            if fed.media.value != account.type:
                raise ValueError(
                    f"integration_accounts[{i}].stream: media stream {fed.id!r} is "
                    f"{fed.media.value}, not {account.type}"
                )
        return self

    @model_validator(mode="after")
    def _bots(self) -> Self:
        _unique("bot_accounts", [a.id for a in self.bot_accounts])
        _unique("bot_accounts (name)", [a.name for a in self.bot_accounts])
        bots = {a.id for a in self.bot_accounts}
        queues = {q.id for q in self.queues}
        for i, stream in enumerate(self.media_streams):
            if stream.bot is None:
                continue
            if stream.bot.account not in bots:
                raise ValueError(
                    f"media_streams[{i}].bot.account: unknown bot account {stream.bot.account!r}"
                )
            for intent, queue in stream.bot.intent_queues.items():
                if queue not in queues:
                    raise ValueError(
                        f"media_streams[{i}].bot.intent_queues.{intent}: unknown queue {queue!r}"
                    )
        return self

    @model_validator(mode="after")
    def _number_targets(self) -> Self:
        _unique("numbers", [n.number for n in self.numbers])
        for i, number in enumerate(self.numbers):
            target = number.target
            if isinstance(target, UserTarget) and self.agent(target.agent) is None:
                raise ValueError(f"numbers[{i}].target.agent: unknown agent {target.agent!r}")
            if isinstance(target, StreamTarget):
                stream = self.stream(target.stream)
                if stream is None:
                    raise ValueError(
                        f"numbers[{i}].target.stream: unknown media stream {target.stream!r}"
                    )
                if stream.media is not ChannelKind.SMS:
                    raise ValueError(
                        f"numbers[{i}].target.stream: media stream {stream.id!r} is "
                        f"{stream.media.value}, not sms"
                    )
        return self

    @model_validator(mode="after")
    def _cpaas_alerts(self) -> Self:
        _unique("cpaas_platforms", [p.id for p in self.cpaas_platforms])
        _unique("alert_recipients", [r.id for r in self.alert_recipients])
        if self.cpaas_platforms and not any(r.send_alerts for r in self.alert_recipients):
            raise ValueError(
                "cpaas_platforms: CPaaS platforms need at least one alert recipient with "
                "send_alerts on (alert_recipients)"
            )
        return self

    def queue(self, queue_id: str) -> QueueConfig | None:
        return next((q for q in self.queues if q.id == queue_id), None)

    def stream(self, stream_id: str) -> MediaStreamConfig | None:
        return next((s for s in self.media_streams if s.id == stream_id), None)

    def agent(self, agent_id: str) -> AgentConfig | None:
        return next((a for a in self.agents if a.id == agent_id), None)


SYSTEM_SCOPE = "system"
"""The OAuth2 ``scope`` of a system admin's token (so no tenant may be called that)."""


class SystemAdminConfig(_Model):
    """A system admin: signs in with ``scope=system`` and may act on every tenant."""

    username: str = Field(min_length=1, max_length=128)
    name: str = ""
    password: SecretStr | None = None
    # scrypt hash as written by ``router.passwords.hash_password``; use instead of ``password``.
    password_hash: str | None = None

    @model_validator(mode="after")
    def _one_credential(self) -> Self:
        if (self.password is None) == (self.password_hash is None):
            raise ValueError("give exactly one of password or password_hash")
        return self


class Config(_Model):
    tenants: tuple[TenantConfig, ...] = ()
    system_admins: tuple[SystemAdminConfig, ...] = ()

    @model_validator(mode="after")
    def _unique_tenants(self) -> Self:
        _unique("tenants", [t.id for t in self.tenants])
        _unique("system_admins", [a.username for a in self.system_admins])
        if any(t.id == SYSTEM_SCOPE for t in self.tenants):
            raise ValueError(f"tenants: {SYSTEM_SCOPE!r} is reserved for system admins")
        # Webhook URLs carry only the account id, so ids are unique across tenants.
        _unique(
            "integration_accounts", [a.id for t in self.tenants for a in t.integration_accounts]
        )
        _unique("bot_accounts", [a.id for t in self.tenants for a in t.bot_accounts])
        # A phone number belongs to one tenant.
        _unique("numbers", [n.number for t in self.tenants for n in t.numbers])
        # CPaaS webhook URLs carry only the platform id.
        _unique("cpaas_platforms", [p.id for t in self.tenants for p in t.cpaas_platforms])
        return self

    def tenant(self, tenant_id: str) -> TenantConfig | None:
        return next((t for t in self.tenants if t.id == tenant_id), None)

    @classmethod
    def parse(cls, data: Mapping[str, Any] | None, *, source: str = "config") -> Config:
        """Validate raw data; raise ``ConfigError`` naming the first bad field."""
        try:
            return cls.model_validate(data or {})
        except ValidationError as exc:
            raise ConfigError(_describe(exc, source)) from None

    @classmethod
    def load(cls, path: Path) -> Config:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from None
        if data is not None and not isinstance(data, dict):
            raise ConfigError(f"{path}: the top level must be a mapping with 'tenants'")
        return cls.parse(data, source=str(path))


def _unique(what: str, values: list[str]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{what}: duplicate id {value!r}")
        seen.add(value)


def _describe(exc: ValidationError, source: str) -> str:
    lines = []
    for err in exc.errors():
        path = ""
        for part in err["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        message = err["msg"].removeprefix("Value error, ")
        lines.append(f"{source}: {path or '(top level)'}: {message}")
    return "\n".join(lines)


def demo_config() -> Config:
    """The demo tenant loaded in embedded mode when no config file is given."""
    return Config.parse(
        {
            "tenants": [
                {
                    "id": "demo",
                    "name": "Demo Company",
                    "queues": [{"id": "support", "name": "Support", "offer_timeout_seconds": 30}],
                    "agents": [
                        {
                            "id": "alice",
                            "name": "Alice Agent",
                            "username": "alice",
                            "password": "alice-demo",
                            "capacity": 2,
                            "queues": ["support"],
                        },
                        {
                            "id": "bob",
                            "name": "Bob Supervisor",
                            "username": "bob",
                            "password": "bob-demo",
                            "role": "supervisor",
                            "capacity": 2,
                            "queues": ["support"],
                        },
                    ],
                    "media_streams": [
                        {
                            "id": "web",
                            "name": "Website chat",
                            "media": "webchat",
                            "queue": "support",
                            "initial_reply": (
                                "Hi{% if customer.name %} {{ customer.name }}{% endif %}, "
                                "thanks for writing to {{ stream.name }}. "
                                "An agent will be with you shortly."
                            ),
                        }
                    ],
                }
            ]
        },
        source="demo config",
    )


DEMO_CREDENTIALS = (
    {"tenant": "demo", "username": "alice", "password": "alice-demo"},
    {"tenant": "demo", "username": "bob", "password": "bob-demo"},
)
