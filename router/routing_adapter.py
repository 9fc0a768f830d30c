"""The routing adapter's building blocks (docs/routing-adapter.md): queue entry points and
pipe-separated choice lists.

A message routed to a queue rather than to an entry point (media stream) is filed under a
*queue entry point*: a synthetic web chat media stream ``queue~{queue}`` with the default
stream settings that routes into that queue. Its id cannot clash with a configured stream
(``~`` is not allowed in stream ids) and it has no customer chat page.
"""

from __future__ import annotations

from router.config import MediaStreamConfig, TenantConfig
from router.models import ChannelKind

QUEUE_ENTRY_PREFIX = "queue~"
MAX_CHOICES = 10
MAX_CHOICE_LENGTH = 200


def queue_entry_id(queue: str) -> str:
    return QUEUE_ENTRY_PREFIX + queue


def queue_of_entry(stream_id: str) -> str | None:
    """The queue of a queue entry point's stream id, else ``None``."""
    rest = stream_id.removeprefix(QUEUE_ENTRY_PREFIX)
    return rest if rest != stream_id and rest else None


def queue_entry(tenant: TenantConfig, stream_id: str) -> MediaStreamConfig | None:
    """The queue entry point ``stream_id`` of ``tenant``, if it names one of its queues."""
    queue = queue_of_entry(stream_id)
    if queue is None or tenant.queue(queue) is None:
        return None
    # Validated with a placeholder id (a queue entry id is no valid stream id), then renamed.
    stream = MediaStreamConfig(id="queue", queue=queue, media=ChannelKind.WEBCHAT)
    return stream.model_copy(update={"id": stream_id, "name": f"Queue {queue}"})


class ChoiceError(ValueError):
    """A choice list that cannot be offered; the message says why."""


def parse_choices(raw: str) -> tuple[str, ...]:
    """``"Yes|No|Maybe"`` -> ``("Yes", "No", "Maybe")``.

    Options are separated by ``|`` and trimmed; ``\\|`` is a literal pipe and ``\\\\`` a
    literal backslash inside an option. Every option must be non-empty and at most
    ``MAX_CHOICE_LENGTH`` characters, with between one and ``MAX_CHOICES`` options.
    """
    options: list[str] = []
    current: list[str] = []
    chars = iter(raw)
    for char in chars:
        if char == "\\":
            escaped = next(chars, None)
            if escaped not in ("|", "\\"):
                raise ChoiceError("a backslash may only escape '|' or '\\'")
            current.append(escaped)
        elif char == "|":
            options.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    options.append("".join(current).strip())
    for index, option in enumerate(options, start=1):
        if not option:
            raise ChoiceError(f"option {index} is empty")
        if len(option) > MAX_CHOICE_LENGTH:
            raise ChoiceError(f"option {index} is longer than {MAX_CHOICE_LENGTH} characters")
    if len(options) > MAX_CHOICES:
        raise ChoiceError(f"at most {MAX_CHOICES} options, got {len(options)}")
    return tuple(options)
