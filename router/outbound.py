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

from channels.base import ChannelAdapter, SendReceipt
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
from router.consent import SMS_CHANNELS, refusal
from router.event_bus import EventBus, message_data
from router.events import OutboundWork
from router.metrics import Metrics
from router.models import ChannelKind, Message, MessageStatus
from router.ordering import KeyedSerializer
from router.sms_outbound import SmsAdapters
from router.store import RedisStore

log = logging.getLogger(__name__)
MAX_ATTEMPTS = QueueSpec(name="-").max_attempts
BACKOFF_CAP = 60.0
MAX_THROTTLE_WAITS = 5


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

    async def start(self) -> None:
        for i in range(self.partitions):
            await self.broker.subscribe(names.outbound(i), self._on_outbound, prefetch=64)

    async def _on_outbound(self, env: Envelope) -> None:
        work = OutboundWork.model_validate_json(env.body)
        key = f"{work.tenant}|{work.session_id}"
        await self._serial.run(key, lambda: self.deliver(work, env.attempt))

    async def _adapter(self, message: Message) -> ChannelAdapter:
        if message.channel is ChannelKind.WEBCHAT:
            return self.webchat
        if message.channel is ChannelKind.SMS and self.sms is not None:
            return await self.sms.adapter(message)
        account = await self.store.accounts.get_in(message.tenant, message.account)
        if account is None or not self.channels.supports(account.type):
            raise PermanentSendError(f"integration account {message.account!r} is gone")
        reason = await self.store.deliveries.unreachable(
            message.tenant, message.account, message.remote_party.id
        )
        if reason is not None:
            raise Unreachable(f"contact unreachable on this account: {reason}")
        return self.channels.adapter(account)

    async def deliver(self, work: OutboundWork, attempt: int = 1) -> None:
        message = work.message
        channel = message.channel.value
        try:
            if message.channel in SMS_CHANNELS and not work.compliance:
                await self._check_consent(message)
            adapter = await self._adapter(message)
            await self._throttle(message.account, adapter.capabilities.sends_per_second)
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
            await self._sent(work, receipt)

    async def _check_consent(self, message: Message) -> None:
        """Safety net behind ``Conversations.send``: a message queued before its customer
        opted out (or was blocked) fails here with the reason."""
        state = await self.store.consent.pair_state(
            message.tenant, message.channel, message.account, message.remote_party.id
        )
        problem = refusal(state)
        if problem is not None:
            raise Unreachable(problem.message)

    async def _throttle(self, account: str, per_second: float | None) -> None:
        """Keep under the provider's rate limit for the account, across all processes."""
        if per_second is None:
            return
        for _ in range(MAX_THROTTLE_WAITS):
            wait = await self.store.deliveries.throttle(account, per_second)
            if wait <= 0:
                return
            await asyncio.sleep(wait)  # the next one-second window
        raise RateLimited("local rate limit for this account", 1.0)

    async def _sent(self, work: OutboundWork, receipt: SendReceipt) -> None:
        message = work.message
        self.metrics.messages_out.labels(message.channel.value, "sent").inc()
        if self.events is not None:
            data = message_data(message.model_copy(update={"session_id": work.session_id}))
            await self.events.emit(work.tenant, "message.sent", data)
        if message.seq is None:
            return
        if receipt.provider_message_ids:
            await self.store.deliveries.record_sent(
                work.tenant, message.account, list(receipt.provider_message_ids),
                work.session_id, message.seq,
            )  # fmt: skip
        elif receipt.delivered:
            await self.store.deliveries.set_status(
                work.tenant, work.session_id, message.seq, MessageStatus.SENT
            )

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
