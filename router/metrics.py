"""Prometheus metrics, one registry per process (no module-level state).

Labels are bounded: channels, outcomes, limits and reasons are fixed words; tenants, queues,
bot engines and accounts come from the configuration; never a session id, a party or a
number. ``docs/observability.md`` lists every metric.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from queues.base import Envelope, QueueSpec, Reject, decide_outcome

if TYPE_CHECKING:
    from router.config import Config
    from router.models import Session
    from router.store import RedisStore

log = logging.getLogger(__name__)
# Seconds; webhook and provider calls are expected in milliseconds, queue waits in minutes.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
WAIT_BUCKETS = (0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
QUEUE_STATS_TIMEOUT = 2.0


def status_class(status: int | None) -> str:
    """A bounded label for an HTTP status: ``429``, ``4xx``, ``5xx`` or ``error`` (none)."""
    if status is None:
        return "error"
    if status == 429:
        return "429"
    return f"{status // 100}xx"


def queue_kind(name: str) -> str:
    """``sb.out.3`` -> ``out``: broker queue names without their partition or tenant."""
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "sb" else parts[0]


class Metrics:
    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.signature_failures = Counter(
            "switchboard_webhook_signature_failures",
            "Webhooks refused because their signature or secret did not verify",
            ["channel"],
            registry=r,
        )
        self.messages_in = Counter(
            "switchboard_messages_in",
            "Inbound messages, by channel and outcome (accepted, blocked, rejected, rate_limited)",
            ["channel", "outcome"],
            registry=r,
        )
        self.messages_out = Counter(
            "switchboard_messages_out",
            "Outbound sends, by channel and outcome (sent, retry, failed)",
            ["channel", "outcome"],
            registry=r,
        )
        self.blocked_messages = Counter(
            "switchboard_blocked_messages",
            "Inbound messages dropped because their number is blocked (router.blocking)",
            ["channel"],
            registry=r,
        )
        self.queue_length = Gauge(
            "switchboard_queue_length",
            "Conversations waiting in a routing queue (refreshed at scrape time)",
            ["tenant", "queue"],
            registry=r,
        )
        self.queue_longest_wait = Gauge(
            "switchboard_queue_longest_wait_seconds",
            "How long the oldest waiting conversation of a routing queue has waited",
            ["tenant", "queue"],
            registry=r,
        )
        self.queue_ready_agents = Gauge(
            "switchboard_queue_ready_agents",
            "Ready agents with free capacity serving a routing queue",
            ["tenant", "queue"],
            registry=r,
        )
        self.queue_wait = Histogram(
            "switchboard_queue_wait_seconds",
            "Time a conversation waited in its routing queue until an agent accepted it",
            ["tenant", "queue"],
            buckets=WAIT_BUCKETS,
            registry=r,
        )
        self.offers = Counter(
            "switchboard_offers",
            "Offers to agents by outcome (accepted, rejected, timeout, missed)",
            ["tenant", "queue", "outcome"],
            registry=r,
        )
        self.bot_calls = Counter(
            "switchboard_bot_calls",
            "Bot API calls by engine, account and outcome (ok, error, cap)",
            ["engine", "account", "outcome"],
            registry=r,
        )
        self.bot_cap_hits = Counter(
            "switchboard_bot_cap_hits",
            "Bot calls not made because the account's daily cap was reached",
            ["engine", "account"],
            registry=r,
        )
        self.provider_latency = Histogram(
            "switchboard_provider_request_seconds",
            "Provider API calls (channels.http.call), by channel and status class",
            ["channel", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.provider_errors = Counter(
            "switchboard_provider_errors",
            "Provider API calls that did not answer 2xx, by channel and status class",
            ["channel", "status"],
            registry=r,
        )
        self.dead_letters = Counter(
            "switchboard_dead_letters",
            "Messages dead-lettered, by broker queue kind (in, out, wait, ev...) and reason "
            "(rejected, retries_exhausted)",
            ["queue", "reason"],
            registry=r,
        )
        self.webhook_latency = Histogram(
            "switchboard_webhook_seconds",
            "Time to answer a provider webhook, by channel and status class",
            ["channel", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.rejected_requests = Counter(
            "switchboard_rejected_requests",
            "Requests, messages and frames refused by a resource limit, by route and limit",
            ["route", "limit"],
            registry=r,
        )
        self.partitions_active = Gauge(
            "switchboard_partitions_active",
            "Ordered partitions this process is the active consumer of (it received messages "
            "since it last subscribed), by broker queue kind (in, out)",
            ["queue"],
            registry=r,
        )
        self.buffer_drops = Counter(
            "switchboard_buffer_drops",
            "Frames not delivered because a bounded buffer was full or a socket too slow",
            ["buffer"],
            registry=r,
        )

    def render(self) -> web.Response:
        resp = web.Response(body=generate_latest(self.registry))
        resp.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return resp

    async def refresh_queues(self, store: RedisStore, config: Config) -> None:
        """Set the queue gauges from the store's queue statistics (at scrape time)."""

        async def read() -> None:
            for tenant in config.tenants:
                for queue in tenant.queues:
                    stats = await store.queue_stats(tenant.id, queue.id)
                    labels = (tenant.id, queue.id)
                    self.queue_length.labels(*labels).set(stats.queue_length)
                    self.queue_longest_wait.labels(*labels).set(stats.longest_waiting_seconds)
                    self.queue_ready_agents.labels(*labels).set(stats.ready_idle_agents)

        try:
            await asyncio.wait_for(read(), QUEUE_STATS_TIMEOUT)
        except Exception:  # a scrape answers with what it has, even with the store down
            log.warning("queue statistics unavailable for metrics", exc_info=True)

    def dead_lettering(
        self, handler: Callable[[Envelope], Awaitable[None]], queue: str
    ) -> Callable[[Envelope], Awaitable[None]]:
        """A broker handler that counts the deliveries its broker will dead-letter (the
        queue's consumer-side settings are the defaults)."""
        kind = queue_kind(queue)
        spec = QueueSpec(name=queue)

        async def run(env: Envelope) -> None:
            try:
                await handler(env)
            except Exception as exc:
                if decide_outcome(exc, env, spec).action == "dead_letter":
                    reason = "rejected" if isinstance(exc, Reject) else "retries_exhausted"
                    self.dead_letters.labels(kind, reason).inc()
                raise

        return run

    def offer_answered(self, tenant: str, offered: Session | None, *, accepted: bool) -> None:
        """An agent accepted an offer (``accepted``) or answered one no longer there
        (``missed``); ``offered`` is the session as it was before."""
        queue = (offered.queue if offered is not None else None) or ""
        self.offers.labels(tenant, queue, "accepted" if accepted else "missed").inc()
        if accepted and offered is not None and offered.queued_at is not None:
            waited = (datetime.now(UTC) - offered.queued_at).total_seconds()
            self.queue_wait.labels(tenant, queue).observe(max(0.0, waited))

    def provider_called(self, channel: str, status: int | None, seconds: float) -> None:
        """One provider API call answered ``status`` (None: no answer) after ``seconds``."""
        label = status_class(status)
        self.provider_latency.labels(channel, label).observe(seconds)
        if status is None or not 200 <= status < 300:
            self.provider_errors.labels(channel, label).inc()
