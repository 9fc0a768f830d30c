"""Bodies of the messages Switchboard puts on the broker (JSON through pydantic, never pickle)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from queues.base import Envelope
from router import logs
from router.ids import new_id
from router.models import Frozen, Message


class InboundWork(Frozen):
    """An accepted inbound message, waiting to be filed under its session."""

    message: Message
    dedupe_key: str | None = None
    # The process (node id) to tell which session the message was filed under, once it is
    # (``FilingReport``): the routing adapter API answers with it.
    report_to: str | None = None


class FilingReport(Frozen):
    """For the process that submitted a message: it was filed under ``session_id``."""

    tenant: str
    dedupe_key: str
    session_id: str


class QueueItem(Frozen):
    """A conversation in a routing queue's waiting line."""

    tenant: str
    session_id: str
    epoch: int
    queue: str
    priority: int = 0
    queued_at: datetime
    preferred_agent: str | None = None


class OutboundWork(Frozen):
    """A message filed in a session's history that must now go out through its channel."""

    tenant: str
    session_id: str
    message: Message
    # An answer to an SMS consent keyword (STOP confirmation, HELP): sent even to an
    # opted-out customer (router.consent).
    compliance: bool = False
    # Queued again by the outbox timer: the process that filed it may have stopped before
    # the broker had it (router.store.filing); a copy that finds it settled only drops out.
    outbox: bool = False


class NodeFrame(Frozen):
    """Something for a socket held by one process: an agent's or a web-chat customer's.

    ``kind == "frame"`` carries the ready JSON frame; ``offer`` and ``assigned`` are built by
    the receiving process from the store (so history is read once, where it is sent).
    """

    tenant: str
    target: Literal["agent", "visitor"]
    recipient: str  # agent id, or "{stream}:{party}" for a visitor
    kind: Literal["frame", "offer", "assigned"] = "frame"
    frame: str | None = None
    session_id: str | None = None
    offer_id: str | None = None


def envelope(body: BaseModel, *, priority: int = 0, correlation_id: str | None = None) -> Envelope:
    return Envelope(
        id=new_id(),
        type=type(body).__name__,
        body=body.model_dump_json().encode(),
        priority=priority,
        # The message at hand's correlation id travels with the work it causes (router.logs).
        correlation_id=correlation_id or logs.current(),
    )
