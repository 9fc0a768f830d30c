"""The outbound path: messages filed in a session go out through their channel's adapter.

Outbound partitions are ordered like inbound ones, so one session's replies leave in the
order they were written. Provider failures become broker signals: rate limits are retried
after the provider's Retry-After, outages with exponential backoff, and permanent failures
(or retries exhausted) are dead-lettered with the provider's reason and the message is
marked failed with it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from functools import partial

from redis.exceptions import RedisError

from channels import http
from channels.base import ChannelAdapter, SendReceipt, SupportsReplyTokens
from channels.errors import (
    ChannelError,
    PermanentSendError,
    ProviderUnavailable,
    RateLimited,
    Unreachable,
)
from channels.registry import ChannelRegistry
from queues import names
from queues.base import Broker, Envelope, QueueSpec, Reject, Retry
from router import logs
from router.consent import SMS_CHANNELS, refusal
from router.conversations import NOT_QUEUED
from router.event_bus import EventBus, message_data
from router.events import OutboundWork
from router.ids import new_id
from router.metrics import Metrics
from router.models import ChannelKind, Message, MessageStatus
from router.ordering import KeyedSerializer
from router.partitions import PartitionConsumers
from router.sms_outbound import SmsAdapters
from router.store import RedisStore
from router.store.deliveries import SendCheck, SendClaim
from router.store.filing import send_timer
from router.tasks import retry_until_done

log = logging.getLogger(__name__)
MAX_ATTEMPTS = QueueSpec(name="-").max_attempts
BACKOFF_CAP = 60.0
MAX_THROTTLE_WAITS = 5
_GONE_OUT = (MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ, MessageStatus.FAILED)
# A send in progress is claimed in Redis for this long (well over a provider call's timeout).
CLAIM_SECONDS = 300
OUTCOME_UNKNOWN = "delivery outcome unknown: the process sending it stopped mid-call"


@dataclass
class _Progress:
    """How far one delivery attempt got: ``called`` once the provider call started,
    ``released`` once the send claim was dropped along with the send's record."""

    called: bool = False
    released: bool = False


@dataclass(frozen=True)
class _Route:
    """Where a message goes as far as this process knows it before the send's reads: its
    adapter, or why it has none (``gone``); neither for a CPaaS number, whose adapter is
    built from the store (``router.sms_outbound``)."""

    adapter: ChannelAdapter | None = None
    gone: str | None = None


def backoff(attempt: int) -> float:
    return float(min(BACKOFF_CAP, 0.5 * 2 ** (attempt - 1)))


class OutboundWorker:
    def __init__(
        self,
        broker: Broker,
        store: RedisStore,
        channels: ChannelRegistry,
        webchat: ChannelAdapter,
        metrics: Metrics,
        partitions: int,
    ) -> None:
        self.broker = broker
        self.store = store
        self.channels = channels
        self.webchat = webchat
        self.metrics = metrics
        self.partitions = partitions
        # CPaaS SMS numbers (router.sms_outbound), set by the runtime.
        self.sms: SmsAdapters | None = None
        self._serial = KeyedSerializer()
        self.events: EventBus | None = None  # event webhooks, set by the runtime

    def consume(self, consumers: PartitionConsumers) -> None:
        """Have ``consumers`` (the runtime's, which subscribes once it starts and spreads
        the partitions over the processes) consume every outbound partition."""
        for i in range(self.partitions):
            name = names.outbound(i)
            handler = logs.with_envelope(self.metrics.dead_lettering(self._on_outbound, name))
            consumers.add(name, handler, prefetch=64, kind="out")

    async def _on_outbound(self, env: Envelope) -> None:
        work = OutboundWork.model_validate_json(env.body)
        key = f"{work.tenant}|{work.session_id}"
        await self._serial.run(key, lambda: self._deliver_observed(work, env.attempt))

    async def _deliver_observed(self, work: OutboundWork, attempt: int) -> None:
        """``deliver`` with the provider's latency and errors counted and the log context set."""
        channel = work.message.channel.value
        token = http.call_observer.set(partial(self.metrics.provider_called, channel))
        try:
            with logs.bound(None, tenant=work.tenant, session=work.session_id, channel=channel):
                await self.deliver(work, attempt)
        finally:
            http.call_observer.reset(token)

    async def _route(self, message: Message) -> _Route:
        if message.channel is ChannelKind.WEBCHAT:
            return _Route(self.webchat)
        if message.channel is ChannelKind.SMS and self.sms is not None:
            return _Route()
        account = await self.store.account_cache.get_in(message.tenant, message.account)
        if account is None or not self.channels.supports(account.type):
            return _Route(gone=f"integration account {message.account!r} is gone")
        return _Route(self.channels.adapter(account))

    async def _check(self, work: OutboundWork, claim: SendClaim | None, route: _Route) -> SendCheck:
        """Take the claim and read what the send must respect, in one round trip."""
        message = work.message
        adapter = route.adapter
        consent = message.channel in SMS_CHANNELS and not work.compliance
        outbox = None
        if message.seq is not None:
            outbox = send_timer(
                work.tenant, work.session_id, message.seq, compliance=work.compliance
            )
        return await self.store.deliveries.check_send(
            work.tenant, work.session_id, message.seq, claim=claim, account=message.account,
            party=message.remote_party.id, consent=message.channel if consent else None,
            unreachable=adapter is not None and message.channel is not ChannelKind.WEBCHAT,
            per_second=adapter.capabilities.sends_per_second if adapter is not None else None,
            outbox=outbox, reply_token=adapter is not None and adapter.capabilities.reply_tokens,
        )  # fmt: skip

    async def deliver(self, work: OutboundWork, attempt: int = 1) -> None:
        route = await self._route(work.message)
        if work.message.channel is ChannelKind.WEBCHAT:
            check = await self._check(work, None, route)
            if not self._settled(work, check):
                await self._attempt(work, attempt, _Progress(), route, check, None)
            return
        claim = SendClaim(
            key=f"sb:sending:{work.message.id}", token=new_id(), seconds=CLAIM_SECONDS
        )
        try:
            check = await self._check(work, claim, route)
        except BaseException as exc:
            # Its answer was lost: the claim may be ours, and nothing was sent.
            stopping = isinstance(exc, asyncio.CancelledError)
            await self._release(claim, until_done=not stopping, if_ours=True)
            raise
        if not check.claimed and not await self._ours(claim):
            if self._settled(work, check):
                return  # another delivery of it sent it meanwhile
            # A process stopped while sending it: the provider may have it already, and a
            # second send could duplicate it. Fail it with the reason instead.
            await self._failed(work, OUTCOME_UNKNOWN)
        progress = _Progress()
        try:
            # Read under the claim: another delivery of the same message (a redelivery while
            # the first one was still recording its send) may have sent it and dropped its
            # claim since.
            if self._settled(work, check):
                await self._release(claim, until_done=False)
                return
            await self._attempt(work, attempt, progress, route, check, claim)
        except (Retry, Reject, ChannelError):
            # The provider did not take it (or was never called): another attempt may send.
            await self._release(claim, until_done=True)
            raise
        except BaseException as exc:
            if not progress.called:  # when stopping, one try: the claim expires anyway
                stopping = isinstance(exc, asyncio.CancelledError)
                await self._release(claim, until_done=not stopping)
            # Else the provider call was made and its outcome is not recorded: keep the
            # claim, so a redelivery fails the message as "outcome unknown" rather than
            # risk sending it twice.
            raise
        if not progress.released:
            await self._release(claim, until_done=False)

    async def _ours(self, claim: SendClaim) -> bool:
        """Whether the claim that was not taken is ours after all: the claiming round trip
        ran but its answer was lost, and the client sent it again."""
        return bool(await self.store.client.get(claim.key) == claim.token)

    async def _release(self, claim: SendClaim, *, until_done: bool, if_ours: bool = False) -> None:
        """Drop the claim (``if_ours``: only if this attempt holds it). ``until_done``: nothing
        was sent, and a claim left behind would fail the next attempt as "outcome unknown",
        so wait for Redis to answer."""

        async def drop() -> None:
            if not if_ours or await self._ours(claim):
                await self.store.client.delete(claim.key)

        if until_done:
            await retry_until_done(drop, (RedisError, OSError), f"dropping send claim {claim.key}")
            return
        try:
            await drop()
        except (RedisError, OSError):  # recorded as sent: the claim only expires later
            log.debug("could not drop send claim %s", claim.key, exc_info=True)

    async def _attempt(
        self, work: OutboundWork, attempt: int, progress: _Progress, route: _Route,
        check: SendCheck, claim: SendClaim | None,
    ) -> None:  # fmt: skip
        message = work.message
        channel = message.channel.value
        try:
            if check.pair is not None:
                # Safety net behind ``Conversations.send``: a message queued before its
                # customer opted out (or was blocked) fails here with the reason.
                problem = refusal(check.pair)
                if problem is not None:
                    raise Unreachable(problem.message)
            adapter = await self._adapter(message, route, check)
            # The batch took a place in the rate-limit window when it knew the adapter.
            wait = check.wait if route.adapter is not None else None
            await self._throttle(message.account, adapter.capabilities.sends_per_second, wait)
            progress.called = True
            if check.reply_token is not None and isinstance(adapter, SupportsReplyTokens):
                receipt = await adapter.send_reply(message, check.reply_token)
            else:
                receipt = await adapter.send(message)
        except RateLimited as exc:
            self.metrics.messages_out.labels(channel, "retry").inc()
            if attempt < MAX_ATTEMPTS:
                raise Retry(exc.retry_after, str(exc)) from exc
            await self._failed(work, str(exc))
        except ProviderUnavailable as exc:
            self.metrics.messages_out.labels(channel, "retry").inc()
            if attempt < MAX_ATTEMPTS:
                raise Retry(backoff(attempt), str(exc)) from exc
            await self._failed(work, str(exc))
        except ChannelError as exc:
            await self._failed(work, str(exc))
        else:
            # It went out: record that even if the store is briefly unreachable, or a retry
            # would send it again.
            await retry_until_done(
                lambda: self._sent(work, receipt, claim, progress), (Exception,),
                "recording a sent message",
            )  # fmt: skip

    async def _adapter(self, message: Message, route: _Route, check: SendCheck) -> ChannelAdapter:
        if route.gone is not None:
            raise PermanentSendError(route.gone)
        if route.adapter is None:
            assert self.sms is not None
            return await self.sms.adapter(message)
        if check.unreachable is not None:
            raise Unreachable(f"contact unreachable on this account: {check.unreachable}")
        return route.adapter

    def _settled(self, work: OutboundWork, check: SendCheck) -> bool:
        """True when the message already went out or failed: a redelivery (its consumer
        died after sending, before acknowledging) is not sent a second time, and a message
        reported failed (e.g. its publish was not confirmed, though the broker had it) is
        not sent after all. A message failed with a provider's reason is dead-lettered
        (``Reject``), in case its first dead-lettering did not go through."""
        status = check.status
        if status is None or status[0] not in _GONE_OUT:
            return False
        log.info("outbound message %s already %s; not sent again", work.message.id, status[0])
        reason = status[1]
        if work.outbox:
            return True  # a copy: the delivery that settled it dead-lettered what it failed
        if status[0] is MessageStatus.FAILED and reason and reason != NOT_QUEUED:
            # Failed by a delivery whose dead-lettering did not go through (the broker went
            # away): dead-letter it now, with its reason.
            raise Reject(reason)
        return True

    async def _throttle(self, account: str, per_second: float | None, wait: float | None) -> None:
        """Keep under the provider's rate limit for the account, across all processes;
        ``wait``: what the send's first look at the window answered (None: not looked)."""
        if per_second is None:
            return
        if wait is None:
            wait = await self.store.deliveries.throttle(account, per_second)
        for waited in range(1, MAX_THROTTLE_WAITS + 1):
            if wait <= 0:
                return
            await asyncio.sleep(wait)  # the next one-second window
            if waited < MAX_THROTTLE_WAITS:
                wait = await self.store.deliveries.throttle(account, per_second)
        raise RateLimited("local rate limit for this account", 1.0)

    async def _sent(
        self, work: OutboundWork, receipt: SendReceipt, claim: SendClaim | None,
        progress: _Progress,
    ) -> None:  # fmt: skip
        """Record the send, dropping the claim in the same round trip."""
        message = work.message
        self.metrics.messages_out.labels(message.channel.value, "sent").inc()
        log.debug("outbound message %s sent", message.id)
        if self.events is not None:
            await self.events.emit(work.tenant, "message.sent", lambda: message_data(
                message.model_copy(update={"session_id": work.session_id})
            ))  # fmt: skip
        if message.seq is None or not (receipt.provider_message_ids or receipt.delivered):
            return
        await self.store.deliveries.record_sent(
            work.tenant, message.account, list(receipt.provider_message_ids), work.session_id,
            message.seq, release=claim.key if claim is not None else None,
        )  # fmt: skip
        progress.released = claim is not None

    async def _failed(self, work: OutboundWork, reason: str) -> None:
        """Mark the message failed with the provider's reason, then dead-letter it."""
        message = work.message
        self.metrics.messages_out.labels(message.channel.value, "failed").inc()
        if message.seq is not None:
            await self.store.deliveries.set_status(
                work.tenant, work.session_id, message.seq, MessageStatus.FAILED, reason
            )
        log.info("outbound message %s failed: %s", message.id, reason)
        if self.events is not None:
            failed = message.model_copy(update={"session_id": work.session_id})
            data = {**message_data(failed), "reason": reason}
            await self.events.emit(work.tenant, "message.failed", data)
        raise Reject(reason)
