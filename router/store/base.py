"""What the store answers: the typed results of its atomic operations, and its key layout.

Every key of a tenant starts with ``sb:{tenant}:`` so one tenant's data can never be
reached through another tenant's keys. Layout (P = tenant prefix):

====================  ======================================================
``P s:{sid}``         session hash
``P h:{sid}``         session history (list of message JSON; index + 1 = seq)
``P ix:{stream}:{p}`` current session of a remote party on a stream
``P sa:{account}``    every session of an account / our number (``router.store.inbox``)
``P d:{key}``         dedupe marker of a provider / client message id
``P a:{agent}``       agent hash (state, reason, load, capacity, queues, idle_since)
``P as:{agent}``      sessions offered to / assigned to an agent
``P ask:{agent}``     an agent's skills
``P on:{agent}``      node the agent is connected to (expires without heartbeat)
``P r:{queue}``       ready agents with free capacity, scored by idle-since
``P qa:{queue}``      agents serving a queue
``P w:{queue}``       waiting sessions, scored by queued-at (statistics)
``P dec:{sid}``       agents who declined or missed the session's offer
``P cred:{user}``     credentials of an agent / API client
``P wc:{stream}:{p}`` node a web-chat customer is connected to
``P sx:...``          session search indexes (``router.store.transcripts``)
``P audit``           audit log stream (``router.store.audit``)
``sb::audit``         the system admins' audit log stream (no tenant id is empty)
``sb:sched``          timers and outboxes (offer expiry, inactivity, queue publish, send)
``sb:tok:{token}``    bearer tokens
====================  ======================================================
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from importlib import resources

from router.models import AgentState, Frozen


def tenant_prefix(tenant: str) -> str:
    return f"sb:{tenant}:"


SCHED_KEY = "sb:sched"
KICK_CHANNEL = "sb:kick"
SECRET_KEY = "sb:secret"


class IngestOutcome(StrEnum):
    NEW = "new"
    REOPENED = "reopened"
    EXISTING = "existing"
    DUPLICATE = "dup"


class IngestResult(Frozen):
    outcome: IngestOutcome
    session_id: str
    seq: int
    state: str
    agent: str | None
    agent_node: str | None
    epoch: int
    last_agent: str | None = None


class OfferResult(Frozen):
    outcome: str  # offered | none | noagents | stale
    agent: str | None = None
    node: str | None = None


class ReleaseResult(Frozen):
    outcome: str  # requeued | stale | early
    agent: str | None = None
    epoch: int = 0
    agent_node: str | None = None
    agent_state: AgentState | None = None
    agent_reason: str | None = None
    agent_load: int = 0
    agent_capacity: int = 0
    queue: str | None = None


class AgentStateResult(Frozen):
    state: AgentState
    reason: str | None
    load: int
    capacity: int
    queues: tuple[str, ...]
    previous: AgentState


class CloseResult(Frozen):
    outcome: str  # closed | missing | already | forbidden | active
    previous_state: str | None = None
    agent: str | None = None
    agent_node: str | None = None
    queue: str | None = None


class Timer(Frozen):
    member: str
    kind: str
    tenant: str
    session_id: str
    token: str | None
    leased_score: float


class Credential(Frozen):
    subject: str
    secret_hash: str
    role: str
    kind: str  # agent | api
    privileges: tuple[str, ...] = ()


def script_source(name: str, *, lib: bool = False) -> str:
    """The text of ``scripts/{name}.lua`` as it is registered: with ``lib.lua`` (the shared
    helpers) prepended when ``lib``."""
    scripts = resources.files("router.store") / "scripts"
    text = (scripts / f"{name}.lua").read_text("utf-8")
    if lib:
        return (scripts / "lib.lua").read_text("utf-8") + "\n" + text
    return text


def epoch_ms(value: datetime) -> int:
    """``value`` as milliseconds since the epoch (scores and script arguments)."""
    return int(value.timestamp() * 1000)


def now_ms() -> int:
    """Now, as milliseconds since the epoch."""
    return epoch_ms(datetime.now(UTC))
