"""What every channel test does alike: an agent's reply, waiting for a delivery status, the
inbound messages an agent saw, and the signature-failure counter."""

from __future__ import annotations

import uuid
from typing import Any

from router.models import Message, MessageStatus
from router.runtime import Runtime
from tests.clients import AgentClient, Frame, eventually


async def send(agent: AgentClient, session_id: str, **fields: Any) -> Frame:
    """The agent sends a message; returns its echo (with seq)."""
    client_id = uuid.uuid4().hex
    await agent.send({"type": "send", "session_id": session_id, "client_id": client_id, **fields})
    return await agent.expect("message", lambda f: f["message"].get("client_id") == client_id)


async def last_message(runtime: Runtime, session_id: str, status: MessageStatus) -> Message:
    """The session's last message, once it has ``status``."""

    async def reached() -> bool:
        session = await runtime.store.load_session("acme", session_id)
        return session is not None and session.history[-1].status is status

    await eventually(reached, f"last message {status.value}")
    session = await runtime.store.load_session("acme", session_id)
    assert session is not None
    return session.history[-1]


def inbound(agent: AgentClient, session_id: str) -> list[dict[str, Any]]:
    """Inbound messages of a session as the agent saw them, deduplicated by seq, in order."""
    return agent.inbound(session_id)


def signature_failures(runtime: Runtime, channel: str) -> float:
    return float(runtime.metrics.signature_failures.labels(channel)._value.get())
