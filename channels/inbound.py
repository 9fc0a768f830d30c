"""The one way an adapter files what a customer wrote: a normalized inbound ``Message``."""

from __future__ import annotations

from datetime import datetime
from uuid import uuid4

from channels.accounts import IntegrationAccount
from router.models import Attachment, ChannelKind, Direction, Message, Party, Sender, SenderKind


def inbound_message(
    account: IntegrationAccount,
    kind: ChannelKind,
    *,
    party_id: str,
    party_name: str | None = None,
    sender_id: str | None = None,
    sender_name: str | None = None,
    text: str | None,
    attachments: tuple[Attachment, ...] = (),
    provider_message_id: str,
    created_at: datetime,
    message_id: str | None = None,
) -> Message:
    """A customer's message on ``account``, from ``party_id`` (the chat replies go to).

    The sender is the party itself (same id and name) unless ``sender_id`` names another
    member of the chat (groups); ``message_id`` defaults to a random id.
    """
    if sender_id is None:
        sender_id, sender_name = party_id, party_name
    return Message(
        id=uuid4().hex if message_id is None else message_id,
        tenant=account.tenant,
        channel=kind,
        account=account.id,
        stream=account.stream,
        direction=Direction.INBOUND,
        remote_party=Party(id=party_id, name=party_name),
        sender=Sender(kind=SenderKind.CUSTOMER, id=sender_id, name=sender_name),
        text=text,
        attachments=attachments,
        provider_message_id=provider_message_id,
        created_at=created_at,
    )
