"""The inbound path: accept a normalized message, then file it under its session and move
the conversation on (waiting line, or straight to the assigned agent).

``submit`` returns only once the message is durably on the broker, so a webhook or a chat
socket acknowledges nothing that could still be lost. Filing happens in the partition
consumer: one partition per (tenant, stream, remote party) hash, one active consumer per
partition across all processes, and a per-session serializer inside it; so messages of one
session are filed strictly in order while different sessions proceed in parallel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from queues import names
from queues.base import Broker, Envelope, Handler, QueueSpec, Reject
from router import frames, logs
from router.blocking import Blocking
from router.config import MediaStreamConfig
from router.consent import ConsentService
from router.conversations import Conversations
from router.delivery import Delivery
from router.errors import ConflictError, NotFoundError, StoreError
from router.events import FilingReport, InboundWork, envelope
from router.hours import is_open, next_open
from router.ids import new_id
from router.models import Message, Sender, SenderKind
from router.ordering import KeyedSerializer
from router.replies import render_reply
from router.store import RedisStore
from router.store.base import IngestOutcome
from router.tasks import retry_until_done

if TYPE_CHECKING:
    from router.bots import BotDesk
    from router.event_bus import EventBus
    from router.limits import InboundLimiter
    from router.metrics import Metrics
    from router.partitions import PartitionConsumers
    from router.personal_inbox import PersonalInbox

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


def session_key(message: Message) -> str:
    return f"{message.tenant}|{message.stream}|{message.remote_party.id}"


class Pipeline:
    def __init__(
        self,
        store: RedisStore,
        broker: Broker,
        delivery: Delivery,
        conversations: Conversations,
        partitions: int,
        clock: Callable[[], datetime] = utc_now,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.broker = broker
        self.delivery = delivery
        self.conversations = conversations
        self.partitions = partitions
        # What "now" is for business hours (replaceable in tests).
        self.clock = clock
        # Personal SMS inboxes decide who gets their conversations (set by the runtime).
        self.personal: PersonalInbox | None = None
        # Bots on media streams (router.bots; set by the runtime).
        self.bots: BotDesk | None = None
        # SMS consent keywords and blocked numbers (every SMS channel).
        self.consent = ConsentService(store, conversations)
        self.blocking = Blocking(store, conversations, metrics)
        self.metrics = metrics
        # Per-tenant and per-party inbound rate limits (router.limits; set by the runtime).
        self.limiter: InboundLimiter | None = None
        self._serial = KeyedSerializer()
        # Event webhooks (router.event_bus; set by the runtime).
        self.events: EventBus | None = None

    async def declare(self) -> None:
        for i in range(self.partitions):
            for name in (names.inbound(i), names.outbound(i)):
                await self.broker.declare(QueueSpec(name=name, single_active_consumer=True))

    def consume(self, consumers: PartitionConsumers) -> None:
        """Have ``consumers`` (the runtime's, which subscribes once it starts and spreads
        the partitions over the processes) consume every inbound partition."""
        for i in range(self.partitions):
            name = names.inbound(i)
            handler: Handler = self._on_inbound
            if self.metrics is not None:
                handler = self.metrics.dead_lettering(handler, name)
            consumers.add(name, logs.with_envelope(handler), prefetch=64, kind="in")

    async def submit(
        self, message: Message, *, dedupe_key: str | None = None, report: bool = False
    ) -> bool:
        """Durably accept an inbound message (raises ``BrokerError`` if it cannot).

        False: dropped unfiled and counted, its number is blocked (``router.blocking``).
        ``report`` (with a ``dedupe_key``): the filing process tells this one the session
        it was filed under (``Delivery.expect_filing``).
        """
        if await self.blocking.drops(message):
            return False
        self.conversations.stream(message.tenant, message.stream)  # unknown stream -> 404
        if self.limiter is not None:  # raises InboundRateLimited past a limit
            await self.limiter.check(message.tenant, message.remote_party.id)
        partition = names.partition_of(session_key(message), self.partitions)
        report_to = self.delivery.node_id if report and dedupe_key else None
        work = InboundWork(message=message, dedupe_key=dedupe_key, report_to=report_to)
        await self.broker.publish(names.inbound(partition), envelope(work))
        return True

    async def _on_inbound(self, env: Envelope) -> None:
        work = InboundWork.model_validate_json(env.body)
        m = work.message
        with logs.bound(None, tenant=m.tenant, session=m.session_id, channel=m.channel.value):
            await self._serial.run(session_key(m), lambda: self._file_in_place(work))

    async def _file_in_place(self, work: InboundWork) -> None:
        """``file``, tried again right here while the store is unreachable. Handing the
        message back for a delayed retry would let the session's next messages be filed
        before it; waiting in place keeps them behind it (and a process that dies meanwhile
        leaves it unacknowledged, so it is redelivered in order)."""
        await retry_until_done(
            lambda: self.file(work), (StoreError, RedisError), "filing: store unavailable"
        )

    async def file(self, work: InboundWork) -> None:
        message = work.message
        try:
            stream = self.conversations.stream(message.tenant, message.stream)
        except NotFoundError as exc:
            raise Reject(str(exc)) from None
        route = None
        if self.personal is not None and self.personal.owns(message):
            route = await self.personal.route(message)
            if route is None:
                log.info("personal-inbox message dropped: %s is no user's number", message.account)
                return
        result = await self.store.ingest(
            message,
            new_session_id=new_id(),
            queue=stream.queue,
            priority=stream.priority,
            skills=stream.skills,
            reopen=stream.reopen_on_reply,
            inactivity_seconds=stream.inactivity_timeout_seconds,
            dedupe_key=work.dedupe_key,
            assign_to=route.assign_to if route else None,
            hold=route.hold if route else False,
            with_bot=(
                route is None
                and self.bots is not None
                and stream.bot is not None
                and stream.bot.mode != "agent_assist"
            ),
        )
        await self._report(work, result.session_id)
        filed = message.model_copy(update={"session_id": result.session_id, "seq": result.seq})
        log.debug("message filed: %s", result.outcome.value, extra={"session": result.session_id})
        await self.consent.on_inbound(filed, duplicate=result.outcome is IngestOutcome.DUPLICATE)
        if self.events is not None and result.outcome is not IngestOutcome.DUPLICATE:
            await self.events.filed(filed, result, queue=None if route else stream.queue)
        if route is not None and self.personal is not None:
            await self.personal.filed(filed, result)  # straight to the user (or held)
            return
        if result.state == "with_bot":
            await self._with_bot(filed, result.outcome, stream)
            return
        if result.outcome in (IngestOutcome.NEW, IngestOutcome.REOPENED):
            preferred = result.last_agent if stream.use_last_agent else None
            await self.conversations.publish_queue_item(
                message.tenant, result.session_id, result.epoch, preferred_agent=preferred
            )
            if result.outcome is IngestOutcome.NEW:
                try:
                    await self._opening_reply(message, result.session_id, stream)
                except ConflictError as exc:  # e.g. the customer opted out (SMS STOP)
                    log.info("no opening reply in %s: %s", result.session_id, exc.message)
        if result.state == "assigned" and result.agent:
            # A redelivered duplicate is forwarded again: agents dedupe on (session_id, seq).
            await self.delivery.frame_to_agent(
                message.tenant, result.agent, result.agent_node, frames.message_frame(filed)
            )
            if self.bots is not None and result.outcome is not IngestOutcome.DUPLICATE:
                await self.bots.assist(filed, stream, result.agent, result.agent_node)

    async def _report(self, work: InboundWork, session_id: str) -> None:
        """Tell the submitting process, if it asked, which session the message went to."""
        if work.report_to is None or work.dedupe_key is None:
            return
        tenant = work.message.tenant
        report = FilingReport(tenant=tenant, dedupe_key=work.dedupe_key, session_id=session_id)
        await self.delivery.report_filing(work.report_to, report)

    async def _with_bot(
        self, filed: Message, outcome: IngestOutcome, stream: MediaStreamConfig
    ) -> None:
        """A customer message of a conversation with the bot (router.bots)."""
        assert filed.session_id is not None
        if self.bots is None or stream.bot is None or outcome is IngestOutcome.DUPLICATE:
            # No bot (any more), or a redelivery the bot may already have answered: an agent.
            if self.bots is not None:
                await self.bots.handoff(filed.tenant, filed.session_id, stream.queue, "no bot")
            return
        if outcome is IngestOutcome.EXISTING and stream.bot.mode != "routing":
            await self.bots.self_service(filed, stream)
            return
        await self.bots.on_new(filed, stream)
        if stream.bot.mode == "routing" and outcome is IngestOutcome.NEW:
            try:
                await self._opening_reply(filed, filed.session_id, stream)
            except ConflictError as exc:
                log.info("no opening reply in %s: %s", filed.session_id, exc.message)

    async def _opening_reply(
        self, message: Message, session_id: str, stream: MediaStreamConfig
    ) -> None:
        """The initial reply within business hours, the after-hours reply outside them."""
        now = self.clock()
        opens: datetime | None = None
        if is_open(stream.availability, now):
            template = stream.initial_reply
        else:
            template = stream.after_hours_reply
            opens = next_open(stream.availability, now)
            opens = opens.astimezone(stream.availability.zone) if opens else None
        if not template:
            return
        text = render_reply(template, customer=message.remote_party, stream=stream, next_open=opens)
        await self.conversations.send(
            message.tenant,
            session_id,
            sender=Sender(kind=SenderKind.SYSTEM, name=stream.name or stream.id),
            text=text,
        )
