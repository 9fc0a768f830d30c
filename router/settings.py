"""Process settings, read once from the environment (and CLI flags) and passed down.

Modules never read ``os.environ``; ``Settings.from_env`` takes the mapping as an argument.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from router.errors import ConfigError

_PREFIX = "SWITCHBOARD_"


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    broker_url: str = "memory://"
    redis_url: str = "memory://"
    config_path: Path | None = None
    host: str = "0.0.0.0"
    port: int = Field(default=8080, ge=0, le=65535)
    # Identifies this process among the others sharing the broker and store.
    node_id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    # Inbound and outbound work is split into this many ordered partitions.
    partitions: int = Field(default=8, ge=1, le=256)
    # How often timers (offer expiry, inactivity) and the waiting lines are checked.
    tick_seconds: float = Field(default=0.5, gt=0, le=60)
    token_ttl_seconds: int = Field(default=8 * 3600, ge=60)
    log_level: str = "INFO"
    # Where customers and providers reach this system (signed attachment links in SMS,
    # CPaaS webhook URLs).
    public_url: str = Field(default="http://localhost:8080", pattern=r"^https?://[^\s/]+\S*$")
    # SMTP server for alert emails (smtp://[user:password@]host[:port], smtps:// for TLS);
    # None: alerts are logged as not sent.
    smtp_url: str | None = Field(default=None, pattern=r"^smtps?://\S+$")
    alert_from: str = "switchboard@localhost"
    # A reverse proxy in front sets X-Forwarded-For (the audit log then takes the client
    # address from it); leave False when clients reach this process directly.
    trusted_proxy: bool = False
    # Connections to Redis this process opens at most; commands beyond wait for a free one.
    redis_max_connections: int = Field(default=128, ge=4, le=10_000)
    # Log lines as JSON objects or text; None: JSON in production mode, text in embedded mode
    # (router.logs, docs/observability.md).
    log_format: Literal["json", "text"] | None = None
    # Resource limits (router.limits, docs/limits.md). Request bodies, in bytes, per route.
    webhook_max_body_bytes: int = Field(default=1024**2, ge=1024, le=64 * 1024**2)
    api_max_body_bytes: int = Field(default=256 * 1024, ge=1024, le=64 * 1024**2)
    admin_max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=64 * 1024**2)
    # Inbound messages per window, per tenant and per remote party, across all processes
    # (0: no limit).
    tenant_messages_per_window: int = Field(default=60_000, ge=0)
    party_messages_per_window: int = Field(default=120, ge=0)
    rate_window_seconds: float = Field(default=60.0, gt=0, le=3600)
    # WebSocket frames per second each socket may send (burst: twice as many at once).
    agent_ws_frames_per_second: float = Field(default=20.0, gt=0)
    chat_ws_frames_per_second: float = Field(default=5.0, gt=0)
    # On SIGTERM: how long in-flight work may take to finish before it is handed back to
    # the broker (docs/operations.md).
    shutdown_grace_seconds: float = Field(default=10.0, ge=0, le=600)
    # How often each process checks whether it should hand partitions it is the active
    # consumer of to another process (router.partitions); None: ten ticks.
    partition_balance_seconds: float | None = Field(default=None, gt=0, le=600)

    @field_validator("broker_url")
    @classmethod
    def _broker_scheme(cls, value: str) -> str:
        if not value.startswith(("memory://", "amqp://", "amqps://")):
            raise ValueError("must start with memory://, amqp:// or amqps://")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if not value.startswith(("memory://", "redis://", "rediss://", "unix://")):
            raise ValueError("must start with memory://, redis://, rediss:// or unix://")
        return value

    @property
    def embedded(self) -> bool:
        return self.broker_url.startswith("memory://")

    @property
    def balance_interval(self) -> float:
        """Seconds between two partition balancing checks."""
        return self.partition_balance_seconds or self.tick_seconds * 10

    @property
    def effective_log_format(self) -> str:
        return self.log_format or ("text" if self.embedded else "json")

    @classmethod
    def from_env(cls, environ: Mapping[str, str], **overrides: object) -> Settings:
        """Build from ``SWITCHBOARD_*`` variables; ``overrides`` (CLI flags) win."""
        fields = {
            "broker_url": "BROKER_URL",
            "redis_url": "REDIS_URL",
            "config_path": "CONFIG",
            "host": "HOST",
            "port": "PORT",
            "node_id": "NODE_ID",
            "partitions": "PARTITIONS",
            "tick_seconds": "TICK_SECONDS",
            "token_ttl_seconds": "TOKEN_TTL_SECONDS",
            "log_level": "LOG_LEVEL",
            "public_url": "PUBLIC_URL",
            "smtp_url": "SMTP_URL",
            "alert_from": "ALERT_FROM",
            "trusted_proxy": "TRUSTED_PROXY",
            "log_format": "LOG_FORMAT",
            "webhook_max_body_bytes": "WEBHOOK_MAX_BODY_BYTES",
            "api_max_body_bytes": "API_MAX_BODY_BYTES",
            "admin_max_body_bytes": "ADMIN_MAX_BODY_BYTES",
            "redis_max_connections": "REDIS_MAX_CONNECTIONS",
            "tenant_messages_per_window": "TENANT_MESSAGES_PER_WINDOW",
            "party_messages_per_window": "PARTY_MESSAGES_PER_WINDOW",
            "rate_window_seconds": "RATE_WINDOW_SECONDS",
            "agent_ws_frames_per_second": "AGENT_WS_FRAMES_PER_SECOND",
            "chat_ws_frames_per_second": "CHAT_WS_FRAMES_PER_SECOND",
            "shutdown_grace_seconds": "SHUTDOWN_GRACE_SECONDS",
            "partition_balance_seconds": "PARTITION_BALANCE_SECONDS",
        }
        data: dict[str, object] = {
            name: environ[_PREFIX + var] for name, var in fields.items() if _PREFIX + var in environ
        }
        data.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            err = exc.errors()[0]
            name = str(err["loc"][0]) if err["loc"] else "settings"
            var = _PREFIX + fields.get(name, name).upper()
            raise ConfigError(f"{var}: {err['msg']}") from None
