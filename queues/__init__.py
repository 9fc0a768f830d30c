"""Work queues: the ``Broker`` contract and its RabbitMQ and in-memory implementations."""

from __future__ import annotations

from urllib.parse import urlsplit

from queues.base import (
    Broker,
    BrokerError,
    Envelope,
    Handler,
    QueueSpec,
    Reject,
    Retry,
    Subscription,
)
from queues.memory import InMemoryBroker
from queues.rabbitmq import RabbitBroker


def make_broker(url: str) -> Broker:
    """Build the broker for ``url``: ``memory://`` (embedded) or ``amqp(s)://`` (RabbitMQ)."""
    scheme = urlsplit(url).scheme.lower()
    if scheme == "memory":
        return InMemoryBroker()
    if scheme in ("amqp", "amqps"):
        return RabbitBroker(url)
    # The URL itself may hold credentials: name only its scheme.
    raise ValueError(
        f"unsupported broker URL scheme {scheme!r} (use memory://, amqp:// or amqps://)"
    )


__all__ = [
    "Broker",
    "BrokerError",
    "Envelope",
    "Handler",
    "InMemoryBroker",
    "QueueSpec",
    "RabbitBroker",
    "Reject",
    "Retry",
    "Subscription",
    "make_broker",
]
