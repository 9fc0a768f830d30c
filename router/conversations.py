"""What can happen to a conversation after it is filed: offers answered, replies, transfers,
closes, timers. Used by the agent socket, the scheduler and (later) the REST API alike.

Every state change is one store script; this module only adds the side effects that follow
it: publishing to the waiting line, telling the sockets, kicking the dispatchers.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from redis.exceptions import RedisError

from queues import names
from queues.base import Broker, BrokerError
from router import frames
from router.addresses import Addresses
from router.config import Config, MediaStreamConfig, TenantConfig
from router.consent import SMS_CHANNELS, refusal
from router.delivery import Delivery
from router.errors import ConflictError, NotFoundError, StoreError
from router.event_bus import EventBus
from router.events import NodeFrame, OutboundWork, QueueItem, envelope
from router.ids import new_id
from router.metrics import Metrics
from router.models import (
    AgentState,
    Attachment,
    ChannelKind,
    Direction,
    Message,
    MessageStatus,
    Sender,
    SenderKind,
    Session,
    SessionState,
)
from router.personal_inbox import personal_number, personal_stream
from router.routing_adapter import queue_entry
from router.store import RedisStore
from router.store.base import ReleaseResult
from router.store.filing import Recipient, send_timer_kind
from router.store.streams import StreamStore
from router.stream_settings import StreamSettings

log = logging.getLogger(__name__)
# Why an outbound message that the broker could not take is marked failed.
NOT_QUEUED = "not queued: the message broker is unavailable"


class Conversations:
    # Offer outcomes and time in queue (router.metrics; set by the runtime).
    metrics: Metrics | None = None

    def __init__(
        self, config: Config, store: RedisStore, broker: Broker, delivery: Delivery, partitions: int
    ) -> None:
        self.config = config
        self.store = store
        self.broker = broker
        self.delivery = delivery
        self.partitions = partitions
        self.events: EventBus | None = None  # event webhooks, set by the runtime
        # Media stream settings as edited at run time (router.stream_settings).
        self.streams = StreamSettings(config, StreamStore(store.client))
        # Where each session's replies go (it never changes): one store read per session.
        self.addresses = Addresses(store)

    # -- lookups --------------------------------------------------------------------------

    def tenant(self, tenant: str) -> TenantConfig:
        cfg = self.config.tenant(tenant)
        if cfg is None:
            raise NotFoundError(f"unknown tenant {tenant!r}")
        return cfg

    def stream(self, tenant: str, stream: str) -> MediaStreamConfig:
        tenant_cfg = self.tenant(tenant)
        number = personal_number(stream)
        if number is not None:
            return personal_stream(number)  # a user's personal SMS inbox
        # A configured stream's current settings, else a routing adapter's queue entry.
        cfg = self.streams.find(tenant, stream) or queue_entry(tenant_cfg, stream)
        if cfg is None:
            raise NotFoundError(f"unknown media stream {stream!r}")
        return cfg

    def filed_stream(self, tenant: str, stream: str) -> MediaStreamConfig:
        """The settings a conversation filed under ``stream`` goes by: the stream's, or the
        last ones of a stream an admin deleted since (a conversation that opened just before
        the deletion is still answered, transferred and closed as usual)."""
        try:
            return self.stream(tenant, stream)
        except NotFoundError:
            retired = self.streams.retired(tenant, stream)
            if retired is None:
                raise
            return retired

    async def session(self, tenant: str, session_id: str, *, history: bool = False) -> Session:
        session = await self.store.load_session(tenant, session_id, with_history=history)
        if session is None:
            raise NotFoundError(f"no session {session_id!r}")
        return session

    # -- waiting line ---------------------------------------------------------------------

    async def publish_queue_item(
        self, tenant: str, session_id: str, epoch: int, *, preferred_agent: str | None = None
    ) -> None:
        """Put the session in its queue's waiting line (broker), then clear the outbox timer."""
        session = await self.session(tenant, session_id)
        if session.state is not SessionState.QUEUED or session.epoch != epoch:
            await self.store.cancel_timer("queue", tenant, session_id, str(epoch))
            return
        assert session.queue is not None
        item = QueueItem(
            tenant=tenant,
            session_id=session_id,
            epoch=epoch,
            queue=session.queue,
            priority=session.priority,
            queued_at=session.queued_at or datetime.now(UTC),
            preferred_agent=preferred_agent,
        )
        await self.broker.publish(
            names.waiting(tenant, session.queue), envelope(item, priority=session.priority)
        )
        await self.store.cancel_timer("queue", tenant, session_id, str(epoch))

    # -- agent state ----------------------------------------------------------------------

    async def set_state(
        self, tenant: str, agent: str, state: AgentState, reason: str | None = None,
        *, node: str | None = None,
    ) -> str:  # fmt: skip
        """Change an agent's state; an unknown Not Ready reason means Not Ready without one.

        ``node``: the process holding the agent's socket, when it is not this one (REST API).
        """
        if state is AgentState.NOT_READY:
            reasons = self.tenant(tenant).not_ready_reasons
            reason = reason if reason in reasons else None
        else:
            reason = None
        result = await self.store.set_agent_state(tenant, agent, state, reason)
        if result is None:
            raise NotFoundError(f"no agent {agent!r}")
        if result.state is AgentState.READY:
            for queue in result.queues:
                await self.store.kick(tenant, queue)
        if self.events is not None:
            await self.events.emit(tenant, "agent.state_changed", {
                "agent": agent, "state": result.state.value, "reason": result.reason,
            })  # fmt: skip
        frame = frames.state_frame(result.state, result.reason, result.load, result.capacity)
        await self.delivery.frame_to_agent(tenant, agent, node or self.delivery.node_id, frame)
        return frame

    # -- offers ---------------------------------------------------------------------------

    async def accept(
        self, tenant: str, agent: str, session_id: str, offer_id: str, *, node: str | None = None
    ) -> None:
        """The agent takes the offer; ``node`` as for ``set_state``."""
        node = node or self.delivery.node_id
        offered = None
        if self.metrics is not None:
            offered = await self.store.load_session(tenant, session_id, with_history=False)
        outcome = await self.store.accept(tenant, session_id, agent, offer_id)
        if self.metrics is not None:
            self.metrics.offer_answered(tenant, offered, accepted=outcome == "assigned")
        if outcome != "assigned":
            raise ConflictError("offer_not_available", "this offer is no longer available")
        if self.events is not None:
            data = {"session_id": session_id, "agent": agent, "offer_id": offer_id}
            await self.events.emit(tenant, "conversation.assigned", data)
        await self.delivery.to_agent(
            tenant,
            agent,
            node,
            NodeFrame(
                tenant=tenant,
                target="agent",
                recipient=agent,
                kind="assigned",
                session_id=session_id,
            ),
        )
        await self.push_state(tenant, agent, node)

    async def push_state(self, tenant: str, agent: str, node: str | None) -> None:
        """Tell the agent its state and load (after its load changed)."""
        status = await self.store.agent_status(tenant, agent)
        if status is not None:
            frame = frames.state_frame(status.state, status.reason, status.load, status.capacity)
            await self.delivery.frame_to_agent(tenant, agent, node, frame)

    async def reject(self, tenant: str, agent: str, session_id: str, offer_id: str) -> None:
        result = await self.store.release_offer(
            tenant, session_id, offer_id, agent=agent, timed_out=False
        )
        if self.metrics is not None and result.outcome == "requeued":
            self.metrics.offers.labels(tenant, result.queue or "", "rejected").inc()
        if result.outcome != "requeued":
            raise ConflictError("offer_not_available", "this offer is no longer available")
        await self._after_release(tenant, session_id, offer_id, result)

    async def expire_offer(self, tenant: str, session_id: str, offer_id: str) -> bool:
        """Offer timer fired: next agent, and the one who missed it goes Not Ready."""
        result = await self.store.release_offer(
            tenant, session_id, offer_id, agent=None, timed_out=True
        )
        if self.metrics is not None and result.outcome == "requeued":
            self.metrics.offers.labels(tenant, result.queue or "", "timeout").inc()
        if result.outcome == "early":
            return False
        if result.outcome == "requeued":
            await self._after_release(tenant, session_id, offer_id, result)
        return True

    async def _after_release(
        self, tenant: str, session_id: str, offer_id: str, result: ReleaseResult
    ) -> None:
        await self.publish_queue_item(tenant, session_id, result.epoch)
        if result.queue:
            await self.store.kick(tenant, result.queue)
        if result.agent:
            expired = frames.dumps(
                {"type": "offer_expired", "session_id": session_id, "offer_id": offer_id}
            )
            await self.delivery.frame_to_agent(tenant, result.agent, result.agent_node, expired)
            assert result.agent_state is not None
            state = frames.state_frame(
                result.agent_state, result.agent_reason, result.agent_load, result.agent_capacity
            )
            await self.delivery.frame_to_agent(tenant, result.agent, result.agent_node, state)

    # -- replies --------------------------------------------------------------------------

    async def send(
        self, tenant: str, session_id: str, *, sender: Sender, text: str | None,
        choices: tuple[str, ...] = (), attachments: tuple[Attachment, ...] = (),
        client_id: str | None = None, compliance: bool = False,
    ) -> Message:  # fmt: skip
        """File an outbound message in the session and queue it for its channel.

        An agent may only write into a session assigned to it. Nothing goes to an SMS
        customer who opted out or is blocked (``router.consent``), except the answers to
        consent keywords (``compliance``).
        """
        if not (text or choices or attachments):
            raise ConflictError("empty_message", "a message needs text, choices or attachments")
        to = await self.addresses.get(tenant, session_id)
        stream = self.filed_stream(tenant, to.stream)
        message = Message(
            id=new_id(),
            tenant=tenant,
            channel=to.channel,
            account=to.account,
            stream=to.stream,
            direction=Direction.OUTBOUND,
            remote_party=to.remote_party,
            sender=sender,
            text=text,
            choices=choices,
            attachments=attachments,
        )
        agent = sender.id if sender.kind is SenderKind.AGENT else None
        dedupe = f"out:{session_id}:{agent}:{client_id}" if agent and client_id else None
        sms = to.channel in SMS_CHANNELS
        # One round trip: the customer's checks, then the filing (``router.store.filing``).
        filing = await self.store.file_outbound(
            message,
            session_id=session_id,
            agent=agent,
            inactivity_seconds=stream.inactivity_timeout_seconds,
            dedupe_key=dedupe,
            recipient=Recipient(
                account=to.account,
                party=to.remote_party.id,
                check_unreachable=to.channel is not ChannelKind.WEBCHAT,
                consent=to.channel if sms and not compliance else None,
                index=sms,
            ),
            outbox=send_timer_kind(compliance=compliance),
        )
        outcome, seq = filing.outcome, filing.seq
        if outcome == "missing":
            raise NotFoundError(f"no session {session_id!r}")
        if outcome == "unreachable":
            why = filing.unreachable
            raise ConflictError(
                "unreachable", f"the customer cannot be reached on this channel: {why}"
            )
        if filing.refused is not None:  # opted out or blocked (SMS)
            raise refusal(filing.refused) or ConflictError(
                "opted_out", "the customer may not be written to; nothing was sent"
            )
        if outcome == "forbidden":
            raise ConflictError("not_assigned", "this conversation is not assigned to you")
        filed = message.model_copy(update={"session_id": session_id, "seq": seq})
        if outcome == "dup":
            filed, queue_again = await self._filed_before(filed)
            if not queue_again:
                return filed
            message = filed
            if sms and seq is not None:  # filed (and indexed) by an earlier filing
                await self.store.sms.index_message(tenant, message.id, session_id, seq)
        work = OutboundWork(
            tenant=tenant, session_id=session_id, message=filed, compliance=compliance
        )
        try:
            await self._queue_send(work)
        except (BrokerError, asyncio.CancelledError):
            # Filed but not (knowingly) queued: mark it failed so it is not left waiting for
            # ever (the sender gets the error and may send again). Had the broker taken it
            # after all, the outbound worker finds it failed and does not send it.
            if seq is not None:
                await asyncio.shield(self._not_queued(tenant, session_id, seq))
            raise
        return filed

    async def _queue_send(self, work: OutboundWork) -> None:
        """Publish ``work`` to its outbound partition (one per customer, so one session's
        messages leave in their order)."""
        message = work.message
        key = f"{work.tenant}|{message.stream}|{message.remote_party.id}"
        partition = names.partition_of(key, self.partitions)
        await self.broker.publish(names.outbound(partition), envelope(work))

    async def queue_unclaimed(
        self, tenant: str, session_id: str, seq: int, *, compliance: bool
    ) -> None:
        """The outbox timer of message ``seq`` came due: no delivery has claimed it, so the
        process that filed it may have stopped before the broker had it. Queue it again
        while it is still waiting to go out; a copy whose first one turns up after all is
        read and dropped (``router.outbound``), never sent twice."""
        found = await self.store.history(tenant, session_id, start=seq, stop=seq)
        if not found or found[0].direction is not Direction.OUTBOUND:
            return
        message = found[0]
        if message.status is not MessageStatus.RECEIVED:
            return  # sent, failed (e.g. not queued: its sender was told) or settled since
        log.info("message %s/%s was never claimed; queueing it again", session_id, seq)
        work = OutboundWork(
            tenant=tenant, session_id=session_id, message=message, compliance=compliance,
            outbox=True,
        )  # fmt: skip
        await self._queue_send(work)

    async def _filed_before(self, filed: Message) -> tuple[Message, bool]:
        """The message filed before under the same client id, and whether to queue it again.

        The client retried, or the store ran the filing but its answer was lost (Redis
        restarting) and the store client sent it again: then the first filing was never
        queued. A message still ``received`` is queued again; the outbound worker does not
        send a message twice (status check and send claim)."""
        if filed.seq is None or filed.session_id is None:
            return filed, False
        earlier = await self.store.history(filed.tenant, filed.session_id, start=filed.seq)
        if not earlier:
            return filed, False
        return earlier[0], earlier[0].status is MessageStatus.RECEIVED

    async def _not_queued(self, tenant: str, session_id: str, seq: int) -> None:
        try:
            await self.store.deliveries.set_status(
                tenant, session_id, seq, MessageStatus.FAILED, NOT_QUEUED
            )
        except (StoreError, RedisError):
            log.warning("could not mark message %s/%s not queued", session_id, seq, exc_info=True)

    # -- endings and transfers ------------------------------------------------------------

    async def close(
        self, tenant: str, session_id: str, *, reason: str, only_agent: str | None = None,
        only_if_inactive: bool = False,
    ) -> bool:  # fmt: skip
        session = await self.session(tenant, session_id)
        stream = self.filed_stream(tenant, session.stream)
        window = stream.reopen_window_seconds if stream.reopen_on_reply else 0.0
        result = await self.store.close_session(
            tenant,
            session_id,
            reason=reason,
            reopen_window_seconds=window,
            only_agent=only_agent,
            only_if_inactive=only_if_inactive,
        )
        if result.outcome == "forbidden":
            raise ConflictError("not_assigned", "this conversation is not assigned to you")
        if result.outcome != "closed":
            return result.outcome in ("already", "missing")
        if self.events is not None:
            data = {"session_id": session_id, "reason": reason, "agent": result.agent}
            await self.events.emit(tenant, "conversation.closed", data)
        closed = frames.closed_frame(session_id, reason)
        if result.agent:
            await self.delivery.frame_to_agent(tenant, result.agent, result.agent_node, closed)
            await self.push_state(tenant, result.agent, result.agent_node)
            if result.queue:
                await self.store.kick(tenant, result.queue)
        await self.delivery.to_visitor(
            tenant,
            session.stream,
            session.remote_party.id,
            frames.dumps({"type": "session_closed"}),
        )
        return True

    async def escalate(self, tenant: str, agent: str, session_id: str) -> None:
        """Move the conversation to its stream's escalation queue, if the stream allows it."""
        session = await self.session(tenant, session_id)
        stream = self.filed_stream(tenant, session.stream)
        if not stream.can_escalate or stream.escalation_queue is None:
            raise ConflictError(
                "escalation_not_allowed", "this media stream does not allow escalation"
            )
        await self.transfer(
            tenant, agent, session_id, queue=stream.escalation_queue, to_agent=None,
            escalation=True,
        )  # fmt: skip

    async def transfer(
        self, tenant: str, agent: str, session_id: str, *, queue: str | None, to_agent: str | None,
        escalation: bool = False,
    ) -> None:  # fmt: skip
        session = await self.session(tenant, session_id)
        stream = self.filed_stream(tenant, session.stream)
        if not stream.can_transfer and not escalation:
            raise ConflictError(
                "transfer_not_allowed", "this media stream does not allow transfers"
            )
        tenant_cfg = self.tenant(tenant)
        target_queue = queue or session.queue
        if target_queue is None or tenant_cfg.queue(target_queue) is None:
            raise NotFoundError(f"unknown queue {target_queue!r}")
        if to_agent is not None:
            target = tenant_cfg.agent(to_agent)
            if target is None:
                raise NotFoundError(f"unknown agent {to_agent!r}")
            if queue is None and target.queues:
                target_queue = target_queue if target_queue in target.queues else target.queues[0]
            if to_agent == agent:
                raise ConflictError(
                    "transfer_to_self", "cannot transfer a conversation to yourself"
                )
        outcome, epoch, _ = await self.store.transfer(
            tenant, session_id, agent, queue=target_queue, to_agent=to_agent
        )
        if outcome != "requeued":
            raise ConflictError("not_assigned", "this conversation is not assigned to you")
        if self.events is not None:
            await self.events.emit(tenant, "conversation.transferred", {
                "session_id": session_id, "from_agent": agent, "queue": target_queue,
                "to_agent": to_agent, "escalation": escalation,
            })  # fmt: skip
        await self.delivery.frame_to_agent(
            tenant, agent, self.delivery.node_id,
            frames.closed_frame(session_id, "escalated" if escalation else "transferred"),
        )  # fmt: skip
        await self.push_state(tenant, agent, self.delivery.node_id)
        await self.publish_queue_item(tenant, session_id, epoch)
        await self.store.kick(tenant, session.queue or target_queue)
