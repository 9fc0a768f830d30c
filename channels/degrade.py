"""What a channel cannot carry is degraded, not dropped: choices become a numbered list,
media become links, and long text is split at word boundaries into the channel's limit."""

from __future__ import annotations

from router.models import Message


def choices_as_text(choices: tuple[str, ...]) -> str:
    return "\n".join(f"{i}. {choice}" for i, choice in enumerate(choices, start=1))


def flatten(message: Message, *, media: bool, choices: bool) -> str:
    """The message's text plus whatever the channel cannot carry natively, as text."""
    parts = [message.text] if message.text else []
    if message.choices and not choices:
        parts.append(choices_as_text(message.choices))
    if message.attachments and not media:
        parts.extend(a.url for a in message.attachments)
    return "\n".join(parts)


def split_text(text: str, limit: int) -> list[str]:
    """Split into chunks of at most ``limit`` characters, preferring line and word breaks."""
    if limit <= 0:
        raise ValueError("limit must be positive")
    chunks: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit + 1)
        if cut <= 0:
            cut = rest.rfind(" ", 0, limit + 1)
        if cut <= 0:
            cut = limit
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not chunks:
        chunks.append(rest)
    return chunks
