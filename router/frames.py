"""The agent WebSocket protocol: client commands (validated) and server frames (built).

Reference: ``docs/agent-protocol.md``.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import Field, TypeAdapter, ValidationError

from channels.segments import segments
from router.consent import SMS_CHANNELS
from router.models import (
    Attachment,
    ChannelKind,
    Direction,
    Frozen,
    Message,
    QueueStats,
    Session,
)

_Id = Annotated[str, Field(min_length=1, max_length=128)]


class SetState(Frozen):
    type: Literal["set_state"]
    state: Literal["ready", "not_ready", "logged_out"]
    reason: Annotated[str, Field(max_length=100)] | None = None


class Accept(Frozen):
    type: Literal["accept"]
    session_id: _Id
    offer_id: _Id


class RejectOffer(Frozen):
    type: Literal["reject"]
    session_id: _Id
    offer_id: _Id


class Send(Frozen):
    type: Literal["send"]
    session_id: _Id
    text: Annotated[str, Field(max_length=10_000)] | None = None
    client_id: _Id | None = None
    choices: tuple[Annotated[str, Field(min_length=1, max_length=200)], ...] = ()
    attachments: tuple[Attachment, ...] = ()


class Close(Frozen):
    type: Literal["close"]
    session_id: _Id


class Transfer(Frozen):
    type: Literal["transfer"]
    session_id: _Id
    queue: _Id | None = None
    agent: _Id | None = None


class Escalate(Frozen):
    type: Literal["escalate"]
    session_id: _Id


class Block(Frozen):
    """Block the remote number of an SMS conversation (``router.blocking``)."""

    type: Literal["block"]
    session_id: _Id


class OptInAnswer(Frozen):
    """The user's answer to an SMS opt-in prompt for one of their numbers."""

    type: Literal["opt_in"]
    number: Annotated[str, Field(min_length=1, max_length=32)]
    accept: bool


Command = Annotated[
    SetState | Accept | RejectOffer | Send | Close | Transfer | Escalate | Block | OptInAnswer,
    Field(discriminator="type"),
]
_COMMAND: TypeAdapter[Command] = TypeAdapter(Command)
COMMAND_TYPES = (
    "set_state", "accept", "reject", "send", "close", "transfer", "escalate", "block", "opt_in",
)  # fmt: skip


class FrameError(Exception):
    def __init__(self, code: str, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref


def parse_command(raw: str) -> Command:
    """Parse one client frame; ``FrameError`` says exactly what is wrong with it."""
    try:
        data = json.loads(raw)
    except ValueError:
        raise FrameError("malformed", "frame is not valid JSON") from None
    if not isinstance(data, dict):
        raise FrameError("malformed", "frame must be a JSON object")
    kind = data.get("type")
    if kind not in COMMAND_TYPES:
        ref = kind if isinstance(kind, str) else None  # no (usable) type: nothing to refer to
        raise FrameError("unknown_type", f"unknown frame type {kind!r}", ref=ref)
    try:
        return _COMMAND.validate_python(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"][1:]) or "frame"
        raise FrameError("invalid_frame", f"{field}: {err['msg']}", ref=kind) from None


def dumps(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), default=str)


# What an agent sees of a message (a set, as pydantic's ``include`` takes; never changed).
VIEW_FIELDS: set[str] = {
    "id", "session_id", "seq", "direction", "sender", "text", "attachments", "choices",
    "created_at", "status", "error",
}  # fmt: skip


def _customer_page_copy(message: Message) -> bool:
    return message.channel is ChannelKind.WEBCHAT and message.direction is Direction.INBOUND


def message_view(message: Message) -> dict[str, Any]:
    view = message.model_dump(mode="json", include=VIEW_FIELDS)
    if _customer_page_copy(message):
        # The id the customer's page gave the message: lets the page match its own copy.
        view["client_id"] = message.provider_message_id
    return view


def customer_view(session: Session) -> dict[str, Any]:
    return session.remote_party.model_dump(mode="json")


def session_view(session: Session) -> dict[str, Any]:
    return {
        "id": session.id,
        "queue": session.queue,
        "channel": session.channel.value,
        "stream": session.stream,
        "state": session.state.value,
        "customer": customer_view(session),
    }


def error_frame(code: str, message: str, ref: str | None = None) -> str:
    return dumps({"type": "error", "code": code, "message": message, "ref": ref})


def state_frame(state: str, reason: str | None, load: int, capacity: int) -> str:
    return dumps(
        {"type": "state", "state": state, "reason": reason, "load": load, "capacity": capacity}
    )


def message_frame(message: Message, client_id: str | None = None) -> str:
    sms_out = message.channel in SMS_CHANNELS and message.direction is Direction.OUTBOUND
    if not (client_id or sms_out or _customer_page_copy(message)):
        # Every customer message that is not web chat's: the view is the message's own
        # fields, written by pydantic straight into the frame.
        view_json = message.model_dump_json(include=VIEW_FIELDS)
        return (
            f'{{"type":"message","session_id":{json.dumps(message.session_id)},'
            f'"seq":{json.dumps(message.seq)},"message":{view_json}}}'
        )
    view = message_view(message)
    if client_id:
        view["client_id"] = client_id
    if sms_out:
        info = segments(message.text or "")
        view["segments"] = {"encoding": info.encoding, "count": info.segments}
    return dumps(
        {"type": "message", "session_id": message.session_id, "seq": message.seq, "message": view}
    )


def suggestions_frame(session_id: str, seq: int, suggestions: list[str]) -> str:
    """Agent assist: the bot's suggested replies to the customer message ``seq``."""
    return dumps(
        {"type": "suggestions", "session_id": session_id, "seq": seq, "suggestions": suggestions}
    )


def blocked_frame(session_id: str, party: str) -> str:
    return dumps({"type": "blocked", "session_id": session_id, "party": party})


def closed_frame(session_id: str, reason: str) -> str:
    return dumps({"type": "session_closed", "session_id": session_id, "reason": reason})


def queue_status_frame(stats: QueueStats) -> str:
    body = stats.model_dump(mode="json", exclude={"tenant", "queue"})
    return dumps({"type": "queue_status", "queue": stats.queue, "stats": body})
