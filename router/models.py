"""The normalized model: every channel's messages become these, every module speaks them.

Vendor payloads end inside their channel adapter; from there on only these frozen models
cross module boundaries.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


def utcnow() -> datetime:
    return datetime.now(UTC)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ChannelKind(StrEnum):
    WEBCHAT = "webchat"
    FACEBOOK = "facebook"
    WHATSAPP = "whatsapp"
    LINE = "line"
    TELEGRAM = "telegram"
    VIBER = "viber"
    VONAGE = "vonage"
    SMS = "sms"


class Direction(StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class SenderKind(StrEnum):
    CUSTOMER = "customer"
    AGENT = "agent"
    BOT = "bot"
    SYSTEM = "system"


class MessageStatus(StrEnum):
    RECEIVED = "received"
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


class Attachment(Frozen):
    url: str
    content_type: str = "application/octet-stream"
    size: int | None = Field(default=None, ge=0)
    name: str | None = None


class Party(Frozen):
    """The remote party (customer) as its channel identifies it."""

    id: str = Field(min_length=1, max_length=256)
    name: str | None = None
    email: str | None = None


class Sender(Frozen):
    kind: SenderKind
    id: str | None = None
    name: str | None = None


class Message(Frozen):
    """One message in either direction, normalized.

    ``seq`` and ``session_id`` are filled in once the message is filed under a session:
    ``seq`` is its 1-based position in that session's history.
    """

    id: str
    tenant: str
    channel: ChannelKind
    account: str
    stream: str
    direction: Direction
    remote_party: Party
    sender: Sender
    text: str | None = None
    attachments: tuple[Attachment, ...] = ()
    choices: tuple[str, ...] = ()
    provider_message_id: str | None = None
    status: MessageStatus = MessageStatus.RECEIVED
    # Why the provider refused the message (status failed).
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    received_at: datetime = Field(default_factory=utcnow)
    session_id: str | None = None
    seq: int | None = None


class SessionState(StrEnum):
    NEW = "new"
    WITH_BOT = "with_bot"
    QUEUED = "queued"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    CLOSED = "closed"


class Offer(Frozen):
    id: str
    agent: str
    expires_at: datetime


class SessionTimers(Frozen):
    inactivity_at: datetime | None = None
    reopen_until: datetime | None = None


class Session(Frozen):
    """One conversation between a remote party and a media stream."""

    id: str
    tenant: str
    stream: str
    channel: ChannelKind
    account: str
    remote_party: Party
    state: SessionState
    queue: str | None = None
    agent: str | None = None
    last_agent: str | None = None
    pinned_agent: str | None = None
    priority: int = 0
    skills: tuple[str, ...] = ()
    epoch: int = 0
    offer: Offer | None = None
    created_at: datetime
    updated_at: datetime
    queued_at: datetime | None = None
    closed_at: datetime | None = None
    close_reason: str | None = None
    timers: SessionTimers = SessionTimers()
    history: tuple[Message, ...] = ()


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"
    NOT_READY = "not_ready"
    READY = "ready"


class AgentStatus(Frozen):
    tenant: str
    agent: str
    state: AgentState
    reason: str | None = None
    capacity: int
    load: int
    idle_since: datetime | None = None


class QueueStats(Frozen):
    """Live statistics of one queue (router status: queue length, waits, agent counts)."""

    tenant: str
    queue: str
    queue_length: int
    longest_waiting_seconds: float
    logged_on_agents: int
    ready_idle_agents: int
    not_ready_agents: int
    working_agents: int
    active_agents: int
