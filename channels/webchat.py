"""The built-in web chat channel: the customer's WebSocket is the "provider".

Inbound messages come from ``router.webchat`` (the customer page's socket) and enter the same
pipeline as any provider's. Outbound messages are delivered to the customer's socket wherever
it is connected; a customer who is offline sees them in the history on reconnect.
"""

from __future__ import annotations

from typing import ClassVar

from channels.base import Capabilities, SendReceipt
from router import frames
from router.delivery import Delivery
from router.models import ChannelKind, Message


class WebChatAdapter:
    kind: ClassVar[ChannelKind] = ChannelKind.WEBCHAT
    capabilities: ClassVar[Capabilities] = Capabilities(max_text_length=10_000)

    def __init__(self, delivery: Delivery) -> None:
        self.delivery = delivery

    async def send(self, message: Message) -> SendReceipt:
        frame = frames.dumps({"type": "message", "message": frames.message_view(message)})
        online = await self.delivery.to_visitor(
            message.tenant, message.stream, message.remote_party.id, frame
        )
        return SendReceipt(delivered=online, detail=None if online else "customer offline")
