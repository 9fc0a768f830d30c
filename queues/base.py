"""The broker boundary: named work queues, competing consumers, delayed retry, dead letters.

Two implementations pass one contract suite (``tests/contracts/broker.py``):
``RabbitBroker`` (aio-pika, publisher confirms) and ``InMemoryBroker`` (the embedded mode).

Handler outcome rules, the same everywhere:

* the handler returns -> the message is acknowledged;
* it raises ``Retry(delay)`` -> the message is re-published after ``delay`` seconds with
  ``attempt + 1`` (after ``QueueSpec.max_attempts`` attempts it is dead-lettered instead);
* it raises ``Reject(reason)`` -> the message goes to the queue's dead-letter queue with the reason;
* any other exception -> treated as ``Retry`` with exponential backoff.

If the consumer goes away (process killed, subscription cancelled) before the handler
finished, the message is delivered again, to another consumer if there is one.

A single-active-consumer queue delivers to one consumer at a time; the others wait in line.
``Subscription.hand_over`` lets the active one step back without cutting work short, so the
next in line takes over in order (``router.partitions`` spreads partitions over processes so).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field


class Envelope(BaseModel):
    """One message on the broker. ``body`` is a serialized pydantic model (JSON bytes)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    type: str
    body: bytes
    correlation_id: str | None = None
    attempt: int = Field(default=1, ge=1)
    priority: int = Field(default=0, ge=0, le=9)
    # Set on dead-lettered copies: why the message ended there.
    dead_letter_reason: str | None = None


class QueueSpec(BaseModel):
    """How a queue is declared. Declaring the same spec twice is a no-op."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    durable: bool = True
    # Messages with a higher ``Envelope.priority`` are delivered first (0..max_priority).
    max_priority: int | None = Field(default=None, ge=1, le=9)
    # Only one consumer (across all processes) receives at a time; the next takes over
    # when it goes away. Used for strict per-partition ordering.
    single_active_consumer: bool = False
    # Queue belongs to this connection only and disappears with it (per-process queues).
    exclusive: bool = False
    max_attempts: int = Field(default=5, ge=1)


Handler = Callable[[Envelope], Awaitable[None]]


class Retry(Exception):  # no Error suffix: a control signal, not an error
    """Raised by a handler: deliver this message again after ``delay`` seconds."""

    def __init__(self, delay: float = 0.0, reason: str = "") -> None:
        super().__init__(reason or f"retry in {delay}s")
        self.delay = delay
        self.reason = reason


class Reject(Exception):  # no Error suffix: a control signal, not an error
    """Raised by a handler: this message can never succeed; dead-letter it with ``reason``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BrokerError(Exception):
    """The broker cannot take the message (down, refused, not confirmed)."""


class Subscription(Protocol):
    @property
    def deliveries(self) -> int:
        """Messages delivered to this consumer so far (on a single-active-consumer queue,
        only the active consumer gets any)."""

    async def hand_over(self, grace: float) -> bool:
        """Let the next consumer in line take the queue over, never cutting work short.

        Takes no new deliveries and gives the started handlers up to ``grace`` seconds. If
        they all finished (and were settled), stops consuming: what arrived meanwhile goes
        back to the queue in its order, for the next consumer, and the answer is True.
        Otherwise carries on as if nothing happened (the held deliveries are started in
        their order) and answers False.
        """

    async def cancel(self) -> None:
        """Stop consuming; unfinished deliveries are returned to the queue."""


class Broker(Protocol):
    # Called once the connection is back after a loss; transient messages of the lost
    # connection may be gone, so these callbacks resend what matters.
    on_reconnect: list[Callable[[], Awaitable[None]]]
    # True when other processes may consume the same queues (RabbitMQ), False for a broker
    # inside this process: only then is there anyone to hand a queue over to.
    distributed: bool

    async def start(self) -> None:
        """Connect. Must be called before any other method."""

    async def declare(self, spec: QueueSpec) -> None:
        """Create the queue (and its dead-letter queue) if it does not exist."""

    async def publish(self, queue: str, envelope: Envelope) -> None:
        """Put a message on a declared queue; returns once the broker has durably taken it.

        Raises ``BrokerError`` if it could not (so a webhook can answer 503, not 200).
        """

    async def notify(self, queue: str, envelope: Envelope) -> None:
        """Best effort, for messages whose loss is harmless (frames for the WebSockets of
        one process): handed to the broker without waiting for it to take them durably, not
        persistent; one for a queue that does not exist is dropped.

        Raises ``BrokerError`` only when it cannot be handed over at all.
        """

    async def subscribe(self, queue: str, handler: Handler, *, prefetch: int = 32) -> Subscription:
        """Consume a declared queue.

        Handlers are *started* in delivery order (one task each, up to ``prefetch`` at once),
        so a handler that synchronously chains work per key keeps per-key order.
        """

    async def dead_letters(self, queue: str) -> list[Envelope]:
        """Peek at the dead-lettered messages of ``queue`` (admin view, tests)."""

    async def consumer_count(self, queue: str) -> int:
        """Consumers of a declared queue across all processes, waiting single-active
        consumers included."""

    async def ping(self) -> bool:
        """True when the broker answers."""

    async def drain(self, grace: float) -> None:
        """Graceful stop: take no new deliveries, give started handlers up to ``grace``
        seconds, hand the rest back to the broker. Publishing still works afterwards."""

    async def close(self) -> None:
        """Cancel subscriptions and disconnect."""


@dataclass(frozen=True)
class Outcome:
    """What an implementation does with a delivery once its handler finished."""

    action: Literal["ack", "retry", "dead_letter"]
    delay: float = 0.0
    reason: str = ""


def decide_outcome(
    error: Exception | None,
    envelope: Envelope,
    spec: QueueSpec,
    *,
    backoff_base: float = 0.05,
    backoff_cap: float = 30.0,
) -> Outcome:
    """Apply the handler outcome rules of this module's docstring (shared by the brokers).

    ``error`` is what the handler raised (``None`` if it returned). Generic exceptions are
    retried after ``backoff_base * 2 ** (attempt - 1)`` seconds, at most ``backoff_cap``.
    """
    if error is None:
        return Outcome("ack")
    if isinstance(error, Reject):
        return Outcome("dead_letter", reason=error.reason)
    if isinstance(error, Retry):
        delay, why = max(error.delay, 0.0), error.reason or "retry requested"
    else:
        delay = min(backoff_base * 2.0 ** min(envelope.attempt - 1, 60), backoff_cap)
        why = f"{type(error).__name__}: {error}"
    if envelope.attempt >= spec.max_attempts:
        return Outcome("dead_letter", reason=f"gave up after {envelope.attempt} attempts: {why}")
    return Outcome("retry", delay=delay, reason=why)
