"""RabbitMQ broker over aio-pika (robust connection, publisher confirms).

Topology per declared queue ``name``:

* ``name`` itself (``x-max-priority``, ``x-single-active-consumer`` as the spec says);
* ``name.dlq``: dead letters, each carrying its reason in the ``x-dead-letter-reason`` header;
* ``name.delay.{ms}``: created on demand for delayed retries. Messages wait there for
  ``x-message-ttl`` ms and are then dead-lettered (by RabbitMQ) back onto ``name``;
  ``x-expires`` removes the queue once it has not been used for a while.

Exclusive queues get exclusive helper queues; all other helpers are durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any, TypeVar

import aio_pika
from aio_pika import DeliveryMode
from aiormq import spec

from queues.acks import ChannelAcks
from queues.base import (
    BrokerError,
    Envelope,
    Handler,
    QueueSpec,
    Reject,
    Retry,
    decide_outcome,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection, HeadersType
    from aiormq.abc import AbstractChannel, DeliveredMessage

log = logging.getLogger(__name__)

_T = TypeVar("_T")

ATTEMPT_HEADER = "x-attempt"
REASON_HEADER = "x-dead-letter-reason"

# Consuming again after RabbitMQ cancelled a consumer: first retry after this many seconds,
# doubling up to the cap.
RESUBSCRIBE_DELAY = 0.5
RESUBSCRIBE_DELAY_CAP = 30.0


def dlq_name(queue: str) -> str:
    """Name of the dead-letter queue of ``queue``."""
    return f"{queue}.dlq"


def delay_queue_name(queue: str, delay_ms: int) -> str:
    """Name of the queue where retries of ``queue`` wait ``delay_ms`` milliseconds."""
    return f"{queue}.delay.{delay_ms}"


def to_properties(envelope: Envelope, *, persistent: bool = True) -> spec.Basic.Properties:
    """Map an envelope to AMQP properties and headers."""
    headers: HeadersType = {ATTEMPT_HEADER: envelope.attempt}
    if envelope.dead_letter_reason is not None:
        headers[REASON_HEADER] = envelope.dead_letter_reason
    mode = DeliveryMode.PERSISTENT if persistent else DeliveryMode.NOT_PERSISTENT
    return spec.Basic.Properties(
        message_id=envelope.id,
        message_type=envelope.type,
        correlation_id=envelope.correlation_id,
        priority=envelope.priority,
        headers=headers,
        content_type="application/json",
        delivery_mode=mode.value,
    )


def to_envelope(message: DeliveredMessage) -> Envelope:
    """Map a delivered AMQP message back to an envelope (leniently: never raises)."""
    properties = message.header.properties
    headers = properties.headers or {}
    attempt = headers.get(ATTEMPT_HEADER)
    reason = headers.get(REASON_HEADER)
    if isinstance(reason, bytes):
        reason = reason.decode("utf-8", "replace")
    return Envelope(
        id=properties.message_id or "",
        type=properties.message_type or "",
        body=message.body,
        correlation_id=properties.correlation_id or None,
        attempt=max(attempt, 1) if isinstance(attempt, int) else 1,
        priority=min(max(properties.priority or 0, 0), 9),
        dead_letter_reason=reason if isinstance(reason, str) else None,
    )


class _RabbitSubscription:
    """One consumer: its own channel, prefetch and handler tasks.

    It consumes on the aiormq channel underneath the robust aio-pika one (no aio-pika message
    object per delivery), so it restores its consumer itself: on the new channel after a
    reconnect, and after RabbitMQ cancelled it (e.g. the queue was deleted).
    """

    def __init__(
        self,
        broker: RabbitBroker,
        spec: QueueSpec,
        channel: AbstractRobustChannel,
        handler: Handler,
        timeout: float,
    ) -> None:
        self._broker = broker
        self._spec = spec
        self._channel = channel
        self._handler = handler
        # Bounds registering the consumer (also while aio-pika restores the channel, which
        # waits for its reopen callbacks).
        self._timeout = timeout
        self._tasks: set[asyncio.Task[None]] = set()
        # Tasks whose handler finished: they are publishing/acking and must not be cut.
        self._settling: set[asyncio.Task[None]] = set()
        self._closing = False
        # Draining: deliveries that arrive now stay unacknowledged and go back to the queue
        # (in their order) when the channel closes.
        self._draining = False
        # Handing over: deliveries that arrive now are held, unstarted, until the hand-over
        # completes (they go back to the queue with the channel) or is called off (they are
        # started in their order).
        self._held: list[tuple[DeliveredMessage, int]] | None = None
        # Acks of the current underlying channel; ``consuming`` is that channel while the
        # consumer is registered on it.
        self._acks: ChannelAcks | None = None
        self._consuming: AbstractChannel | None = None
        self._consume_lock = asyncio.Lock()
        self._resubscribing: asyncio.Task[None] | None = None
        self.deliveries = 0
        channel.reopen_callbacks.add(self._reopened)

    async def consume(self) -> None:
        """Register the consumer on the current underlying channel (if not there yet)."""
        async with self._consume_lock:
            underlay = await self._channel.get_underlay_channel()
            if self._consuming is underlay or self._closing:
                return
            if self._acks is None or self._acks.channel is not underlay:
                # A new channel: delivery tags start over.
                self._acks = ChannelAcks(underlay)
                underlay.on_consumer_cancel_callbacks.add(self._cancelled_by_broker)
            await underlay.basic_consume(self._spec.name, self._on_delivery, timeout=self._timeout)
            self._consuming = underlay

    async def _reopened(self, _channel: object) -> None:
        """The robust channel is back (new connection) and has redeclared the queue."""
        try:
            await self.consume()
        except Exception:
            # Nobody awaits this callback; a lost connection brings the next reopen.
            log.warning(
                "could not consume %s again after a reconnect", self._spec.name, exc_info=True
            )

    def _cancelled_by_broker(self, _frame: spec.Basic.Cancel) -> None:
        """RabbitMQ dropped the consumer (its queue was deleted, its node went away): declare
        the queue again and consume, retrying until it works (what aio-pika did for robust
        consumers). Deliveries in work are still acked on the open channel."""
        self._consuming = None
        if self._closing or self._draining or self._resubscribing is not None:
            return
        self._resubscribing = asyncio.get_running_loop().create_task(self._resubscribe())

    async def _resubscribe(self) -> None:
        delay = RESUBSCRIBE_DELAY
        try:
            while not (self._closing or self._draining or self._consuming is not None):
                try:
                    await self._broker.redeclare(self._channel, self._spec)
                    await self.consume()
                except Exception as exc:
                    log.warning("could not consume %s again: %r", self._spec.name, exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RESUBSCRIBE_DELAY_CAP)
        finally:
            self._resubscribing = None

    async def _on_delivery(self, message: DeliveredMessage) -> None:
        """aiormq callback: start the handler task (deliveries arrive in order)."""
        tag = message.delivery_tag
        acks = self._acks
        if tag is None or acks is None or acks.channel is not message.channel:
            return  # not from the current channel: that one is gone with its deliveries
        acks.delivered(tag)
        if self._closing or self._draining:
            return  # left unacked; closing the channel returns it to the queue
        self.deliveries += 1
        if self._held is not None:
            self._held.append((message, tag))
            return
        self._start(message, tag)

    def _start(self, message: DeliveredMessage, tag: int) -> None:
        task = asyncio.get_running_loop().create_task(self._process(message, tag))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._settling.discard(task)

    async def _process(self, message: DeliveredMessage, tag: int) -> None:
        envelope = to_envelope(message)
        error: Exception | None = None
        try:
            await self._handler(envelope)
        except Exception as exc:  # any handler failure is an outcome, not a crash
            error = exc
            if not isinstance(exc, Retry | Reject):
                log.warning("handler failed on %s", self._spec.name, exc_info=exc)
        current = asyncio.current_task()
        if current is not None:
            self._settling.add(current)
        settled = error is None or await self._broker.settle(envelope, error, self._spec)
        acks = self._acks
        if acks is None or acks.channel is not message.channel:
            return  # its channel is gone: RabbitMQ has put the message back already
        try:
            if settled:
                await acks.ack(tag)
            else:
                await acks.nack(tag)
        except Exception as exc:
            log.debug("ack/nack failed (channel gone?): %r", exc)

    async def drain(self, grace: float) -> None:
        """Take no new deliveries, let the started handlers finish for up to ``grace``
        seconds, then ``cancel`` (what is left goes back to the queue in its order)."""
        self._draining = True
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        if tasks and grace > 0:
            await asyncio.wait(tasks, timeout=grace)
        await self.cancel()

    async def hand_over(self, grace: float) -> bool:
        """Let the next consumer in line become active, never cutting a handler short: hold
        new deliveries, wait up to ``grace`` seconds for the started handlers to finish and
        settle, then close the channel (RabbitMQ requeues the held deliveries in their order
        and activates the next waiting consumer). If a handler is still running by then,
        start the held deliveries in their order and answer False."""
        if self._closing or self._draining or self._held is not None:
            return False
        self._held = []
        try:
            current = asyncio.current_task()
            tasks = [task for task in self._tasks if task is not current]
            pending = set(tasks)
            if tasks and grace > 0:
                _, pending = await asyncio.wait(tasks, timeout=grace)
        except BaseException:
            self._resume()
            raise
        if pending:
            self._resume()
            return False
        await self.cancel()
        return True

    def _resume(self) -> None:
        held, self._held = self._held or [], None
        if self._closing or self._draining:
            return  # left unacked; closing the channel returns them to the queue
        acks = self._acks
        for message, tag in held:
            # Held across a reconnect: the old channel took them back to the queue.
            if acks is not None and acks.channel is message.channel:
                self._start(message, tag)

    async def cancel(self) -> None:
        """Stop consuming; unfinished deliveries go back to the queue in their order."""
        if self._closing:
            return
        self._closing = True
        if self._resubscribing is not None:
            self._resubscribing.cancel()
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        for task in tasks:
            if task not in self._settling:
                task.cancel()
        # Settling tasks finish their acks first (batched acks included): acked messages
        # must not come back with the channel.
        await asyncio.gather(*tasks, return_exceptions=True)
        # Closing the channel cancels the consumer and requeues every unacked message
        # at its original position in one step (so a single-active successor keeps order).
        with contextlib.suppress(Exception):
            await self._channel.close()
        self._broker.forget(self)


class RabbitBroker:
    """The ``Broker`` contract on RabbitMQ (aio-pika ``connect_robust``)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        backoff_base: float = 0.05,
        backoff_cap: float = 30.0,
        delay_queue_expiry: float = 60.0,
    ) -> None:
        self._url = url
        self._timeout = timeout
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._delay_expiry_ms = int(delay_queue_expiry * 1000)
        self._connection: AbstractRobustConnection | None = None
        self._publisher: AbstractRobustChannel | None = None
        # Best-effort messages (``notify``): no publisher confirms on this channel.
        self._notifier: AbstractRobustChannel | None = None
        self._topology: AbstractRobustChannel | None = None
        self._specs: dict[str, QueueSpec] = {}
        # Delay queue name -> loop time of its last declaration (which resets x-expires).
        self._delay_queues: dict[str, float] = {}
        self._subscriptions: set[_RabbitSubscription] = set()
        self._closed = False
        # Other processes consume the same queues: single-active ones can be handed over.
        self.distributed = True
        # Called once the connection is back after a loss (queues and consumers restored).
        # Transient messages of the lost connection's queues (e.g. frames for this
        # process's sockets) may be gone: these callbacks resend what matters.
        self.on_reconnect: list[Callable[[], Awaitable[None]]] = []

    async def start(self) -> None:
        """Connect and open the publishing (confirming), notifying and topology channels."""
        self._check_open()
        try:
            self._connection = await aio_pika.connect_robust(self._url, timeout=self._timeout)
            self._publisher = await self._connection.channel(
                publisher_confirms=True, on_return_raises=True
            )
            self._notifier = await self._connection.channel(publisher_confirms=False)
            self._topology = await self._connection.channel(publisher_confirms=False)
        except Exception as exc:
            raise BrokerError(f"cannot connect to RabbitMQ: {exc!r}") from exc
        self._connection.reconnect_callbacks.add(self._reconnected)

    async def _reconnected(self, _sender: object) -> None:
        log.warning("reconnected to RabbitMQ")
        for callback in list(self.on_reconnect):
            try:
                await callback()
            except Exception:
                log.warning("reconnect callback failed", exc_info=True)

    async def declare(self, spec: QueueSpec) -> None:
        """Declare the queue and its dead-letter queue (idempotent for the same spec)."""
        robust = self._specs.get(spec.name) != spec
        await self._declare(spec.name, robust=robust, **self._kwargs(spec))
        await self._declare(dlq_name(spec.name), robust=robust, **self._helper_kwargs(spec))
        self._specs[spec.name] = spec

    async def publish(self, queue: str, envelope: Envelope) -> None:
        """Publish and wait for the broker's confirm; ``BrokerError`` on any failure."""
        spec = self._specs.get(queue)
        await self._publish(queue, envelope, persistent=spec is None or spec.durable)

    async def notify(self, queue: str, envelope: Envelope) -> None:
        """Best effort: written to the connection without a publisher confirm (none is
        asked for on this channel), not persistent, not ``mandatory`` (RabbitMQ drops it
        when no queue of that name exists). ``BrokerError`` when there is no connection."""
        await self._send(self._notifier, queue, envelope, f"notify {queue!r}", persistent=False)

    async def subscribe(
        self, queue: str, handler: Handler, *, prefetch: int = 32
    ) -> _RabbitSubscription:
        """Consume a queue declared through this broker, on a channel of its own."""
        connection = self._connected()
        spec = self._specs.get(queue)
        if spec is None:
            raise BrokerError(f"queue {queue!r} is not declared")
        if prefetch < 1:
            raise ValueError("prefetch must be at least 1")
        channel = await self._call(connection.channel(publisher_confirms=False))
        subscription = _RabbitSubscription(self, spec, channel, handler, self._timeout)
        try:
            await self._call(channel.set_qos(prefetch_count=prefetch))
            # Declared on this channel so that it declares the queue again on reconnecting
            # (an exclusive queue is gone with the old connection) before consuming again.
            await self._call(channel.declare_queue(queue, **self._kwargs(spec)))
            await self._call(subscription.consume())
        except BaseException:  # also when cancelled: no consumer may outlive this call
            with contextlib.suppress(Exception):
                await channel.close()
            raise
        self._subscriptions.add(subscription)
        return subscription

    async def dead_letters(self, queue: str) -> list[Envelope]:
        """Peek at ``queue.dlq``: get everything unacked, then requeue it all."""
        channel = await self._call(self._connected().channel(publisher_confirms=False))
        try:
            return await self._peek(channel, dlq_name(queue))
        finally:
            with contextlib.suppress(Exception):
                await channel.close()

    async def consumer_count(self, queue: str) -> int:
        """Consumers of ``queue`` (waiting single-active ones included), from a passive
        declare on a channel of its own (a missing queue closes the channel it is asked on)."""
        channel = await self._call(self._connected().channel(publisher_confirms=False))
        try:
            declared = await self._call(channel.declare_queue(queue, passive=True, robust=False))
        finally:
            with contextlib.suppress(Exception):
                await channel.close()
        result = declared.declaration_result
        return int(result.consumer_count or 0)

    async def delete_queue(self, queue: str) -> None:
        """Delete a queue with its dead-letter and delay queues (admin, tests)."""
        channel = self._channel(self._topology)
        delays = [name for name in self._delay_queues if name.startswith(f"{queue}.delay.")]
        for name in [queue, dlq_name(queue), *delays]:
            await self._call(channel.queue_delete(name))
            self._delay_queues.pop(name, None)
        self._specs.pop(queue, None)

    async def ping(self) -> bool:
        """True when RabbitMQ answers (opens and closes a channel)."""
        if self._closed or self._connection is None:
            return False
        try:
            async with asyncio.timeout(self._timeout):
                channel = await self._connection.channel(publisher_confirms=False)
                await channel.close()
        except Exception:
            return False
        return True

    async def drain(self, grace: float) -> None:
        """Graceful stop of every consumer at once: no new deliveries, started handlers get
        up to ``grace`` seconds, the rest is requeued. Publishing still works afterwards."""
        subscriptions = list(self._subscriptions)
        await asyncio.gather(*(s.drain(grace) for s in subscriptions), return_exceptions=True)

    async def close(self) -> None:
        """Cancel subscriptions (their unfinished messages are requeued) and disconnect."""
        if self._closed:
            return
        self._closed = True
        for subscription in list(self._subscriptions):
            await subscription.cancel()
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()

    # -- used by subscriptions ---------------------------------------------------------

    def forget(self, subscription: _RabbitSubscription) -> None:
        """Drop a cancelled subscription."""
        self._subscriptions.discard(subscription)

    async def settle(self, envelope: Envelope, error: Exception, spec: QueueSpec) -> bool:
        """Apply the outcome of a failed handler: publish the retry or the dead letter. True
        when done (the delivery may be acked), False when that failed (requeue it)."""
        outcome = decide_outcome(
            error, envelope, spec, backoff_base=self._backoff_base, backoff_cap=self._backoff_cap
        )
        log.info("message %s on %s: %s", envelope.id, spec.name, outcome.reason)
        try:
            if outcome.action == "retry":
                again = envelope.model_copy(update={"attempt": envelope.attempt + 1})
                await self._publish_later(spec, again, outcome.delay)
            elif outcome.action == "dead_letter":
                dead = envelope.model_copy(update={"dead_letter_reason": outcome.reason})
                await self._publish(dlq_name(spec.name), dead, persistent=spec.durable)
        except BrokerError:
            log.warning("could not settle %s on %s; requeueing", envelope.id, spec.name)
            return False
        return True

    async def redeclare(self, channel: AbstractRobustChannel, spec: QueueSpec) -> None:
        """Declare a subscription's queue again on its channel (after RabbitMQ cancelled the
        consumer); not remembered again for reconnects (the first declaration is)."""
        await self._call(channel.declare_queue(spec.name, robust=False, **self._kwargs(spec)))

    # -- internals ---------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise BrokerError("broker is closed")

    def _connected(self) -> AbstractRobustConnection:
        self._check_open()
        if self._connection is None:
            raise BrokerError("broker not started")
        return self._connection

    def _channel(self, channel: AbstractRobustChannel | None) -> AbstractRobustChannel:
        self._connected()
        assert channel is not None  # set together with the connection in start()
        return channel

    async def _call(self, awaitable: Awaitable[_T]) -> _T:
        """Await an aio-pika operation, bounded by the timeout; failures -> ``BrokerError``."""
        try:
            async with asyncio.timeout(self._timeout):
                return await awaitable
        except asyncio.CancelledError as exc:
            if _cancelled_from_outside():
                raise
            raise BrokerError("RabbitMQ operation failed: connection lost") from exc
        except Exception as exc:
            raise BrokerError(f"RabbitMQ operation failed: {exc!r}") from exc

    @staticmethod
    def _kwargs(spec: QueueSpec) -> dict[str, Any]:
        arguments: dict[str, Any] = {}
        if spec.max_priority is not None:
            arguments["x-max-priority"] = spec.max_priority
        if spec.single_active_consumer:
            arguments["x-single-active-consumer"] = True
        return {
            "durable": spec.durable,
            "exclusive": spec.exclusive,
            "arguments": arguments or None,
        }

    @staticmethod
    def _helper_kwargs(spec: QueueSpec) -> dict[str, Any]:
        return {"durable": not spec.exclusive, "exclusive": spec.exclusive}

    async def _declare(self, name: str, *, robust: bool, **kwargs: Any) -> None:
        """Declare on a throw-away channel first: a mismatch (PRECONDITION_FAILED) closes
        the channel it happens on. Then, if ``robust``, on the long-lived topology channel,
        which re-declares the queue after a reconnect."""
        probe = await self._call(self._connected().channel(publisher_confirms=False))
        try:
            await self._call(probe.declare_queue(name, robust=False, **kwargs))
        finally:
            with contextlib.suppress(Exception):
                await probe.close()
        if robust:
            await self._call(self._channel(self._topology).declare_queue(name, **kwargs))

    async def _publish(self, queue: str, envelope: Envelope, *, persistent: bool) -> None:
        # ``mandatory`` on the confirming channel (``on_return_raises``): an unroutable
        # message comes back as an error.
        what = f"publish to {queue!r} not confirmed"
        await self._send(
            self._publisher, queue, envelope, what, persistent=persistent, mandatory=True
        )

    async def _send(
        self, channel: AbstractRobustChannel | None, queue: str, envelope: Envelope, what: str,
        *, persistent: bool, mandatory: bool = False,
    ) -> None:  # fmt: skip
        """Publish on ``channel``: returns once confirmed on the confirming channel, once
        written on the others; ``BrokerError`` starting with ``what`` on any failure."""
        robust = self._channel(channel)
        if robust.is_closed:
            raise BrokerError(f"{what}: channel closed")
        properties = to_properties(envelope, persistent=persistent)
        try:
            # The timeout also bounds waiting for a reconnect (aio-pika waits for it).
            async with asyncio.timeout(self._timeout):
                # Straight to the channel underneath (what the default exchange's publish
                # does, without building an aio-pika message first).
                underlay = await robust.get_underlay_channel()
                await underlay.basic_publish(
                    envelope.body, routing_key=queue, properties=properties, mandatory=mandatory
                )
        except asyncio.CancelledError as exc:
            if _cancelled_from_outside():
                raise
            # The connection or channel went away with the publish in flight: aiormq cancels
            # its pending confirm, which surfaces as a CancelledError although nobody
            # cancelled this task. The publish was not confirmed: say so to the caller.
            raise BrokerError(f"{what}: connection lost") from exc
        except Exception as exc:
            raise BrokerError(f"{what}: {exc!r}") from exc

    async def _publish_later(self, spec: QueueSpec, envelope: Envelope, delay: float) -> None:
        delay_ms = round(delay * 1000)
        if delay_ms <= 0:
            await self._publish(spec.name, envelope, persistent=spec.durable)
            return
        name = delay_queue_name(spec.name, delay_ms)
        await self._declare_delay_queue(spec, name, delay_ms)
        try:
            await self._publish(name, envelope, persistent=spec.durable)
        except BrokerError:
            self._delay_queues.pop(name, None)  # maybe deleted meanwhile: redeclare next time
            raise

    async def _declare_delay_queue(self, spec: QueueSpec, name: str, delay_ms: int) -> None:
        now = asyncio.get_running_loop().time()
        expires_ms = delay_ms + self._delay_expiry_ms
        # Re-declaring resets x-expires; do it often enough that a message never outlives
        # its queue (publishing alone does not count as use).
        declared_at = self._delay_queues.get(name)
        if declared_at is not None and now - declared_at < self._delay_expiry_ms / 2000:
            return
        arguments = {
            "x-message-ttl": delay_ms,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": spec.name,
            "x-expires": expires_ms,
        }
        await self._declare(name, robust=False, arguments=arguments, **self._helper_kwargs(spec))
        self._delay_queues[name] = now

    async def _peek(self, channel: AbstractRobustChannel, name: str) -> list[Envelope]:
        await self._call(channel.declare_queue(name, passive=True, robust=False))
        underlay = await self._call(channel.get_underlay_channel())
        messages: list[DeliveredMessage] = []
        last: int | None = None
        while True:
            message = await self._call(underlay.basic_get(name))
            tag = message.delivery_tag
            if tag is None:  # Basic.GetEmpty: nothing left
                break
            messages.append(message)
            last = tag
        if last is not None:
            await self._call(underlay.basic_nack(last, multiple=True, requeue=True))
            # A synchronous call through the same channel: the requeue is done when it returns.
            await self._call(channel.declare_queue(name, passive=True, robust=False))
        return [to_envelope(message) for message in messages]


def _cancelled_from_outside() -> bool:
    """True when the current task is being cancelled (shutdown, a caller's timeout), as
    opposed to a CancelledError raised by aiormq for a future it cancelled when the
    connection or channel closed under an operation in flight."""
    task = asyncio.current_task()
    return task is None or task.cancelling() > 0


__all__ = ["RabbitBroker", "delay_queue_name", "dlq_name", "to_envelope", "to_properties"]
