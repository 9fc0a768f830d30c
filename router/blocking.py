"""Blocking a remote number on an SMS channel: an agent blocks the customer of a conversation
from the desktop; afterwards everything that number sends to the same number / account is
dropped before it is stored or routed (``Pipeline.submit``), and counted
(``switchboard_blocked_messages_total{channel}``). Sends to it are refused too. An admin
unblocks it (``/api/v1/blocked-numbers``).

Where blocking is allowed: the media stream's ``can_block_numbers`` when set; else, for a
CPaaS number, the number's override or its platform's *User Can Block Numbers*; a Vonage
stream without the setting does not allow it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from router.consent import SMS_CHANNELS
from router.errors import ConflictError, NotFoundError
from router.models import ChannelKind, Message, Session, SessionState, utcnow
from router.store.consent import BlockRecord

if TYPE_CHECKING:
    from router.conversations import Conversations
    from router.metrics import Metrics
    from router.store import RedisStore


class Blocking:
    def __init__(
        self, store: RedisStore, conversations: Conversations, metrics: Metrics | None = None
    ) -> None:
        self.store = store
        self.conversations = conversations
        self.metrics = metrics

    async def allowed(self, session: Session) -> bool:
        if session.channel not in SMS_CHANNELS:
            return False
        try:
            stream = self.conversations.filed_stream(session.tenant, session.stream)
        except NotFoundError:
            stream = None  # e.g. a personal SMS inbox: the number decides
        if stream is not None and stream.can_block_numbers is not None:
            return stream.can_block_numbers
        if session.channel is not ChannelKind.SMS:
            return False
        number = await self.store.cpaas.number(session.tenant, session.account)
        if number is None:
            return False
        platform = await self.store.cpaas.platform(session.tenant, number.platform)
        return platform is not None and number.blocking_allowed(platform)

    async def block(self, tenant: str, agent: str, session_id: str) -> str:
        """The agent holding ``session_id`` blocks its customer; returns the blocked number."""
        session = await self.conversations.session(tenant, session_id)
        if session.state is not SessionState.ASSIGNED or session.agent != agent:
            raise ConflictError("not_assigned", "this conversation is not assigned to you")
        if not await self.allowed(session):
            raise ConflictError(
                "blocking_not_allowed", "blocking numbers is not allowed for this conversation"
            )
        await self.store.consent.block(
            BlockRecord(
                tenant=tenant, channel=session.channel, account=session.account,
                party=session.remote_party.id, blocked_by=agent, session_id=session_id,
                at=utcnow(),
            )
        )  # fmt: skip
        return session.remote_party.id

    async def drops(self, message: Message) -> bool:
        """True (and counted) when ``message`` comes from a blocked number: drop it."""
        if message.channel not in SMS_CHANNELS:
            return False
        blocked = await self.store.consent.is_blocked(
            message.tenant, message.channel, message.account, message.remote_party.id
        )
        if blocked and self.metrics is not None:
            self.metrics.blocked_messages.labels(message.channel.value).inc()
        return blocked
