"""The channel boundary: what every provider adapter offers the rest of Switchboard."""

from __future__ import annotations

from typing import ClassVar, Protocol

from router.models import ChannelKind, Frozen, Message


class SendReceipt(Frozen):
    """What the provider said about one outbound message."""

    delivered: bool
    provider_message_id: str | None = None
    detail: str | None = None


class ChannelAdapter(Protocol):
    kind: ClassVar[ChannelKind]

    async def send(self, message: Message) -> SendReceipt:
        """Deliver one outbound message (already filed in its session) to the remote party.

        Raises ``channels.errors`` exceptions; the outbound worker maps them to retry or
        dead-letter.
        """
