"""Process settings, read once from the environment (and CLI flags) and passed down.

Modules never read ``os.environ``; ``Settings.from_env`` takes the mapping as an argument.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path

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
