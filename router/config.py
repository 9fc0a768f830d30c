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

from channels.accounts import IntegrationAccount
from router.errors import ConfigError
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
    use_last_agent: bool = False
    reopen_on_reply: bool = True
    reopen_window_seconds: float = Field(default=600.0, ge=0)
    inactivity_timeout_seconds: float = Field(default=1800.0, gt=0)
    initial_reply: str | None = None


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

    def queue(self, queue_id: str) -> QueueConfig | None:
        return next((q for q in self.queues if q.id == queue_id), None)

    def stream(self, stream_id: str) -> MediaStreamConfig | None:
        return next((s for s in self.media_streams if s.id == stream_id), None)

    def agent(self, agent_id: str) -> AgentConfig | None:
        return next((a for a in self.agents if a.id == agent_id), None)


class Config(_Model):
    tenants: tuple[TenantConfig, ...] = ()

    @model_validator(mode="after")
    def _unique_tenants(self) -> Self:
        _unique("tenants", [t.id for t in self.tenants])
        # Webhook URLs carry only the account id, so ids are unique across tenants.
        _unique(
            "integration_accounts", [a.id for t in self.tenants for a in t.integration_accounts]
        )
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
