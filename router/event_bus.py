"""Signed event webhooks for integrators (docs/event-webhooks.md).

``EventBus.emit`` is called on the hot paths (filing, offers, replies, closes): it looks up
the tenant's subscriptions in a short-lived in-process cache (at most one Redis read per
tenant per ``CACHE_TTL``), and publishes one delivery job per matching enabled subscription
to the durable broker queue ``sb.events``. With no subscription nothing is published. It
never raises: a failure to emit is logged.

The ``sb.events`` consumer POSTs the event, signed with HMAC-SHA256 over
``f"{timestamp}.{body}"``; 2xx is delivered, 5xx / 408 / 429 / timeouts / transport errors
are retried with exponential backoff through the broker (the same delivery id each time,
dead-lettered after ``MAX_ATTEMPTS``), any other 4xx fails the delivery at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
from pydantic import BaseModel, ConfigDict

from queues.base import Broker, Envelope, QueueSpec, Retry
from router.ids import new_id
from router.models import Message
from router.store import RedisStore
from router.store.base import IngestOutcome, IngestResult
from router.store.events import DeliveryAttempt, StoredSubscription

log = logging.getLogger(__name__)

QUEUE = "sb.events"
EVENT_TYPES = (
    "conversation.created",
    "conversation.queued",
    "conversation.offered",
    "conversation.assigned",
    "conversation.transferred",
    "conversation.closed",
    "message.received",
    "message.sent",
    "message.delivered",
    "message.failed",
    "agent.state_changed",
    "queue.status",
)
CACHE_TTL = 5.0
MAX_ATTEMPTS = 8
TIMEOUT_SECONDS = 10.0
BACKOFF_BASE = 1.0
BACKOFF_CAP = 600.0
# Client errors worth retrying: the receiver timed out or asked us to slow down.
RETRYABLE_4XX = (408, 429)


class EventJob(BaseModel):
    """One delivery of one event to one subscription (the ``sb.events`` message body)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    delivery_id: str
    subscription_id: str
    tenant: str
    type: str
    created_at: str
    data: dict[str, Any]

    def body(self) -> bytes:
        """The exact bytes POSTed (and signed); the same on every attempt."""
        payload = {
            "id": self.delivery_id,
            "type": self.type,
            "tenant": self.tenant,
            "created_at": self.created_at,
            "data": self.data,
        }
        return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``Switchboard-Signature`` header value for one request."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str, *,
           tolerance: float = 300.0, now: float | None = None) -> bool:  # fmt: skip
    """What a receiver does (docs/event-webhooks.md): constant-time compare, fresh timestamp."""
    try:
        age = abs((time.time() if now is None else now) - int(timestamp))
    except ValueError:
        return False
    return age <= tolerance and hmac.compare_digest(sign(secret, timestamp, body), signature)


# An event's data, or a function making it (called only when some subscription wants it).
EventData = dict[str, Any] | Callable[[], dict[str, Any]]


def message_data(message: Message) -> dict[str, Any]:
    """The ``data`` of message.* events."""
    return {
        "session_id": message.session_id,
        "seq": message.seq,
        "message": message.model_dump(mode="json"),
    }


class EventBus:
    def __init__(
        self,
        store: RedisStore,
        broker: Broker,
        session: Callable[[], aiohttp.ClientSession],
        *,
        cache_ttl: float = CACHE_TTL,
    ) -> None:
        self.store = store
        self.broker = broker
        self._session = session
        self.cache_ttl = cache_ttl
        self.timeout = TIMEOUT_SECONDS
        self.backoff_base = BACKOFF_BASE
        self.backoff_cap = BACKOFF_CAP
        # Jobs put on the broker by this process (tests, metrics).
        self.published = 0
        self._cache: dict[str, tuple[float, list[StoredSubscription]]] = {}

    async def declare(self) -> None:
        await self.broker.declare(QueueSpec(name=QUEUE, max_attempts=MAX_ATTEMPTS))

    async def start(self) -> None:
        await self.broker.subscribe(QUEUE, self._on_job, prefetch=16)

    def invalidate(self, tenant: str) -> None:
        """Forget the cached subscriptions of ``tenant`` (after an API change here)."""
        self._cache.pop(tenant, None)

    async def _subscriptions(self, tenant: str) -> list[StoredSubscription]:
        now = time.monotonic()
        cached = self._cache.get(tenant)
        if cached is not None and cached[0] > now:
            return cached[1]
        subs = [s for s in await self.store.events.all(tenant) if s.enabled]
        self._cache[tenant] = (now + self.cache_ttl, subs)
        return subs

    async def wants(self, tenant: str, type: str) -> bool:
        """Whether an enabled subscription of ``tenant`` wants ``type`` (cached like ``emit``)."""
        return any(s.wants(type) for s in await self._subscriptions(tenant))

    async def emit(self, tenant: str, type: str, data: EventData) -> None:
        """Queue ``type`` for every enabled subscription of ``tenant`` that wants it
        (``data`` may be a function making it: called only when some subscription does)."""
        try:
            subs = [s for s in await self._subscriptions(tenant) if s.wants(type)]
            if not subs:
                return
            if callable(data):
                data = data()
            created = datetime.now(UTC).isoformat()
            for sub in subs:
                job = EventJob(
                    delivery_id=new_id(), subscription_id=sub.id, tenant=tenant,
                    type=type, created_at=created, data=data,
                )  # fmt: skip
                env = Envelope(
                    id=job.delivery_id, type="event", body=job.model_dump_json().encode()
                )
                await self.broker.publish(QUEUE, env)
                self.published += 1
        except Exception:
            log.warning("could not emit %s for tenant %s", type, tenant, exc_info=True)

    async def filed(self, message: Message, result: IngestResult, *, queue: str | None) -> None:
        """A customer message was filed: conversation.created (new session), message.received,
        then conversation.queued when it (re)opened a session that waits in ``queue``."""
        if result.outcome is IngestOutcome.NEW:
            await self.emit(message.tenant, "conversation.created", lambda: {
                "session_id": message.session_id, "stream": message.stream,
                "channel": message.channel.value, "account": message.account,
                "customer": message.remote_party.model_dump(mode="json"),
            })  # fmt: skip
        await self.emit(message.tenant, "message.received", lambda: message_data(message))
        new = result.outcome in (IngestOutcome.NEW, IngestOutcome.REOPENED)
        if queue is not None and new and result.state == "queued":
            data = {"session_id": message.session_id, "queue": queue}
            await self.emit(message.tenant, "conversation.queued", data)

    def _backoff(self, attempt: int) -> float:
        return float(min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1)))

    async def _on_job(self, env: Envelope) -> None:
        job = EventJob.model_validate_json(env.body)
        sub = await self.store.events.get(job.tenant, job.subscription_id)
        if sub is None or not sub.enabled:
            return  # deleted or disabled since: drop
        body = job.body()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Switchboard-Webhooks/1",
            "Switchboard-Event-Id": job.delivery_id,
            "Switchboard-Event-Type": job.type,
            "Switchboard-Timestamp": timestamp,
            "Switchboard-Signature": sign(sub.secret, timestamp, body),
        }
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            async with self._session().post(
                sub.url, data=body, headers=headers, allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as resp:  # fmt: skip
                status = resp.status
                await resp.read()
        except TimeoutError:
            error = "timeout"
        except aiohttp.ClientError as exc:
            error = f"{type(exc).__name__}: {exc}"[:300]
        duration = (time.monotonic() - started) * 1000
        if status is not None and 200 <= status < 300:
            outcome = "delivered"
        elif status is not None and 400 <= status < 500 and status not in RETRYABLE_4XX:
            outcome = "failed"
        else:
            outcome = "dead_lettered" if env.attempt >= MAX_ATTEMPTS else "retrying"
        attempt = DeliveryAttempt(
            delivery_id=job.delivery_id, event_type=job.type, attempt=env.attempt,
            outcome=outcome, status_code=status, error=error,
            duration_ms=round(duration, 1), at=datetime.now(UTC).isoformat(),
        )  # fmt: skip
        try:
            await self.store.events.log_attempt(job.tenant, sub.id, attempt)
        except Exception:
            log.warning("could not log delivery %s", job.delivery_id, exc_info=True)
        if outcome in ("retrying", "dead_lettered"):
            reason = error or f"HTTP {status}"
            raise Retry(self._backoff(env.attempt), reason)
        if outcome == "failed":
            log.info("event delivery %s to %s failed: HTTP %s", job.delivery_id, sub.url, status)
