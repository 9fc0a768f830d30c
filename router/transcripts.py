"""Session search and transcripts, shared by the REST API and the admin console.

``session_filter`` reads the search filters from a query string; ``transcript_of`` and
``transcript_text`` turn a stored session into its transcript. The search itself is
``router.store.transcripts``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from pydantic import ValidationError

from router.models import (
    Attachment,
    ChannelKind,
    Direction,
    Frozen,
    MessageStatus,
    Party,
    Sender,
    Session,
    SessionState,
)
from router.store.transcripts import SessionFilter

# Query parameter -> SessionFilter field.
FILTER_PARAMS = {
    "state": "state",
    "queue": "queue",
    "stream": "stream",
    "agent": "agent",
    "channel": "channel",
    "party": "party",
    "created_from": "created_from",
    "created_to": "created_to",
    "q": "text",
}
MAX_TEXT = 200


class FilterError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def parse_time(value: str, field: str) -> datetime:
    """An ISO 8601 time (``2026-05-01``, ``2026-05-01T10:00:00Z``); naive means UTC."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise FilterError(field, "an ISO 8601 date or time, e.g. 2026-05-01T10:00:00Z") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def session_filter(query: Mapping[str, str]) -> SessionFilter:
    """The search filters of a query string (empty values are ignored)."""
    data: dict[str, object] = {}
    for param, field in FILTER_PARAMS.items():
        value = (query.get(param) or "").strip()
        if not value:
            continue
        if param in ("created_from", "created_to"):
            data[field] = parse_time(value, param)
        elif param == "state" and value not in ("open", "closed"):
            raise FilterError(param, "open or closed")
        elif param == "channel" and value not in {c.value for c in ChannelKind}:
            raise FilterError(param, "one of " + ", ".join(c.value for c in ChannelKind))
        elif param == "q" and len(value) > MAX_TEXT:
            raise FilterError(param, f"at most {MAX_TEXT} characters")
        else:
            data[field] = value
    try:
        return SessionFilter.model_validate(data)
    except ValidationError as exc:  # pragma: no cover - every field is checked above
        raise FilterError("query", str(exc)) from exc


class SessionSummary(Frozen):
    """A session without its history (search results)."""

    id: str
    stream: str
    channel: ChannelKind
    account: str
    remote_party: Party
    state: SessionState
    queue: str | None
    agent: str | None
    last_agent: str | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None
    close_reason: str | None

    @classmethod
    def of(cls, session: Session) -> SessionSummary:
        return cls.model_validate({name: getattr(session, name) for name in cls.model_fields})


class SessionPage(Frozen):
    items: tuple[SessionSummary, ...]
    total: int
    limit: int
    offset: int
    # A search bound cut the search short (see the API documentation): narrow the filters.
    truncated: bool = False


class TranscriptMessage(Frozen):
    seq: int
    direction: Direction
    sender: Sender
    at: datetime
    text: str | None
    attachments: tuple[Attachment, ...]
    status: MessageStatus
    error: str | None


class Transcript(Frozen):
    session_id: str
    stream: str
    channel: ChannelKind
    remote_party: Party
    state: SessionState
    created_at: datetime
    closed_at: datetime | None
    messages: tuple[TranscriptMessage, ...]


def transcript_of(session: Session) -> Transcript:
    return Transcript(
        session_id=session.id,
        stream=session.stream,
        channel=session.channel,
        remote_party=session.remote_party,
        state=session.state,
        created_at=session.created_at,
        closed_at=session.closed_at,
        messages=tuple(
            TranscriptMessage(
                seq=m.seq or index,
                direction=m.direction,
                sender=m.sender,
                at=m.created_at,
                text=m.text,
                attachments=m.attachments,
                status=m.status,
                error=m.error,
            )
            for index, m in enumerate(session.history, start=1)
        ),
    )


def _who(sender: Sender) -> str:
    label = sender.name or sender.id
    return f"{sender.kind.value} ({label})" if label else sender.kind.value


def transcript_text(transcript: Transcript) -> str:
    """Plain text: a header, then one line per message (attachments as their URLs)."""
    party = transcript.remote_party
    lines = [
        f"Session {transcript.session_id} · {transcript.channel.value} · stream "
        f"{transcript.stream} · {party.name + ' ' if party.name else ''}<{party.id}>",
        f"Opened {transcript.created_at.isoformat()} · {transcript.state.value}",
        "",
    ]
    for m in transcript.messages:
        parts = [m.text or ""] + [f"[attachment {a.url}]" for a in m.attachments]
        status = f" [{m.status.value}{': ' + m.error if m.error else ''}]"
        arrow = "<-" if m.direction == Direction.INBOUND else "->"
        body = " ".join(p for p in parts if p)
        lines.append(f"{m.at.isoformat()} {arrow} {_who(m.sender)}: {body}{status}")
    return "\n".join(lines) + "\n"
