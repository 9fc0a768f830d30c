"""The dispatcher: matches waiting conversations with free agents.

Each routing queue's waiting line is a RabbitMQ priority queue with a single active
consumer, so across all processes exactly one dispatcher serves a queue at a time and
receives its conversations in priority, then arrival, order. The dispatcher holds the
delivered conversations (unacknowledged) until each is offered; the offer itself is one
atomic store script that picks the agent and reserves its slot, so a conversation can never
be offered or assigned to two agents. If the process dies, the broker hands the unfinished
conversations to the next dispatcher.

Passes run when a conversation arrives, when any process signals that agents may be free
(a Redis "kick"), and on every tick as a safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import UTC, datetime, timedelta

from queues import names
from queues.base import Broker, Envelope, QueueSpec
from router.config import Config, QueueConfig
from router.delivery import Delivery
from router.event_bus import EventBus
from router.events import NodeFrame, QueueItem
from router.store import RedisStore
from router.tasks import cancel_quietly

log = logging.getLogger(__name__)
WINDOW = 500


class WaitingLine:
    """The conversations of one queue that this process currently dispatches."""

    def __init__(
        self, tenant: str, queue: str, offer_timeout: float, store: RedisStore, delivery: Delivery
    ) -> None:
        self.tenant = tenant
        self.queue = queue
        self.offer_timeout = offer_timeout
        self.store = store
        self.delivery = delivery
        self.items: dict[str, tuple[QueueItem, asyncio.Future[None]]] = {}
        self.wake = asyncio.Event()
        self.events: EventBus | None = None  # event webhooks, set by the Dispatcher

    async def handle(self, env: Envelope) -> None:
        item = QueueItem.model_validate_json(env.body)
        held = self.items.get(item.session_id)
        if held is not None:
            if held[0].epoch >= item.epoch:
                return  # a duplicate of what we already hold
            _resolve(held[1])
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.items[item.session_id] = (item, done)
        self.wake.set()
        try:
            await done
        finally:
            if self.items.get(item.session_id, (None, None))[1] is done:
                del self.items[item.session_id]

    async def dispatch(self) -> None:
        order = sorted(self.items.values(), key=lambda it: (-it[0].priority, it[0].queued_at))
        for item, done in order:
            if done.done():
                continue
            offer_id = uuid.uuid4().hex[:16]
            expires = datetime.now(UTC) + timedelta(seconds=self.offer_timeout)
            result = await self.store.offer(
                self.tenant,
                item.session_id,
                item.epoch,
                offer_id,
                expires=expires,
                preferred_agent=item.preferred_agent,
            )
            if result.outcome == "offered":
                _resolve(done)
                assert result.agent is not None
                frame = NodeFrame(
                    tenant=self.tenant,
                    target="agent",
                    recipient=result.agent,
                    kind="offer",
                    session_id=item.session_id,
                    offer_id=offer_id,
                )
                if self.events is not None:
                    await self.events.emit(self.tenant, "conversation.offered", {
                        "session_id": item.session_id, "queue": self.queue,
                        "agent": result.agent, "offer_id": offer_id,
                        "expires_at": expires.isoformat(),
                    })  # fmt: skip
                await self.delivery.to_agent(self.tenant, result.agent, result.node, frame)
            elif result.outcome == "stale":
                _resolve(done)
            elif result.outcome == "noagents":
                break


class Dispatcher:
    def __init__(
        self, config: Config, store: RedisStore, broker: Broker, delivery: Delivery, tick: float
    ) -> None:
        self.config = config
        self.store = store
        self.broker = broker
        self.delivery = delivery
        self.tick = tick
        self.lines: dict[tuple[str, str], WaitingLine] = {}
        self._tasks: list[asyncio.Task[None]] = []
        # Checked every pass, so a cancellation swallowed in a client library cannot keep a
        # loop (and close()) running forever.
        self._stopping = False
        self.events: EventBus | None = None  # event webhooks, set by the runtime
        self._started = False

    async def declare(self) -> None:
        for tenant in self.config.tenants:
            for queue in tenant.queues:
                await self._declare(tenant.id, queue)

    async def _declare(self, tenant: str, queue: QueueConfig) -> WaitingLine:
        spec = QueueSpec(
            name=names.waiting(tenant, queue.id), max_priority=9, single_active_consumer=True
        )
        await self.broker.declare(spec)
        line = WaitingLine(tenant, queue.id, queue.offer_timeout_seconds, self.store, self.delivery)
        line.events = self.events
        self.lines[(tenant, queue.id)] = line
        return line

    async def _serve(self, line: WaitingLine) -> None:
        name = names.waiting(line.tenant, line.queue)
        await self.broker.subscribe(name, line.handle, prefetch=WINDOW)
        self._tasks.append(asyncio.create_task(self._run(line)))

    async def start(self) -> None:
        self._started = True
        for line in list(self.lines.values()):
            await self._serve(line)
        self._tasks.append(asyncio.create_task(self._listen()))

    async def sync_queues(self) -> None:
        """After a configuration change: lines for new queues, new offer timeouts."""
        for tenant in self.config.tenants:
            for queue in tenant.queues:
                line = self.lines.get((tenant.id, queue.id))
                if line is not None:
                    line.offer_timeout = queue.offer_timeout_seconds
                    continue
                line = await self._declare(tenant.id, queue)
                if self._started and not self._stopping:
                    await self._serve(line)

    def wake(self, tenant: str, queue: str) -> None:
        line = self.lines.get((tenant, queue))
        if line is not None:
            line.wake.set()

    async def _run(self, line: WaitingLine) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(line.wake.wait(), self.tick)
            line.wake.clear()
            if not line.items:
                continue
            try:
                await line.dispatch()
            except Exception:
                log.exception("dispatch pass failed for %s/%s", line.tenant, line.queue)

    async def _listen(self) -> None:
        while not self._stopping:
            try:
                async for tenant, queue in self.store.kicks():
                    self.wake(tenant, queue)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("kick subscription lost; retrying", exc_info=True)
                await asyncio.sleep(self.tick)

    async def close(self) -> None:
        self._stopping = True
        for task in self._tasks:
            await cancel_quietly(task)
        self._tasks.clear()


def _resolve(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_result(None)
