"""Everything one Switchboard process runs, built from settings and config, started and
stopped in order. ``create_app`` hangs one ``Runtime`` on the application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field

import aiohttp
from redis.exceptions import LockError, RedisError

from channels.registry import ChannelRegistry
from channels.webchat import WebChatAdapter
from queues import make_broker
from queues.base import Broker
from router import frames
from router.alerts import Alerter
from router.auth import Tokens
from router.bots import BotDesk
from router.config import Config
from router.conversations import Conversations
from router.delivery import Delivery, LocalSockets
from router.directory import Directory
from router.event_bus import EventBus
from router.limits import InboundLimiter
from router.metrics import Metrics
from router.models import QueueStats
from router.numbers import NumberService, inteliquent_provider
from router.outbound import OutboundWorker
from router.partitions import PartitionConsumers
from router.personal_inbox import PersonalInbox
from router.pipeline import Pipeline
from router.provisioning import apply_config
from router.queue_events import QueueStatusEvents
from router.routing import Dispatcher
from router.scheduler import Scheduler
from router.settings import Settings
from router.sms_outbound import SmsAdapters
from router.store import RedisStore
from router.store.members import MemberStore
from router.store.search_backfill import LOCK_SECONDS as BACKFILL_LOCK_SECONDS
from router.store.search_backfill import BackfillBusy, backfill_search_indexes
from router.tasks import cancel_quietly

log = logging.getLogger(__name__)
PRESENCE_TTL = 30


@dataclass
class Runtime:
    settings: Settings
    config: Config
    store: RedisStore
    broker: Broker
    sockets: LocalSockets
    delivery: Delivery
    conversations: Conversations
    pipeline: Pipeline
    dispatcher: Dispatcher
    scheduler: Scheduler
    outbound: OutboundWorker
    tokens: Tokens
    channels: ChannelRegistry
    metrics: Metrics
    secret: bytes = b""
    demo: bool = False
    # True once the process is shutting down: /readyz answers 503 so no new work comes here.
    draining: bool = False
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _last_stats: dict[tuple[str, str], QueueStats] = field(default_factory=dict)
    # Personal SMS inboxes (router.personal_inbox) and CPaaS numbers (router.numbers).
    personal_inbox: PersonalInbox = field(init=False)
    numbers: NumberService = field(init=False)
    # Alert emails (router.alerts).
    alerter: Alerter = field(init=False)
    # Bots on media streams (router.bots); ``bots.engine_factory`` is replaceable in tests.
    bots: BotDesk = field(init=False)
    # Signed event webhooks for integrators (router.event_bus).
    events: EventBus = field(init=False)
    # The queue.status event (router.queue_events).
    queue_events: QueueStatusEvents = field(init=False)
    # Tenants, queues, not-ready reasons and users shared by every process (router.directory):
    # ``config`` is the file's configuration with the directory's, reloaded on every change.
    directory: Directory = field(init=False)
    # The inbound and outbound partition subscriptions, spread over the live processes
    # (router.partitions).
    partitions: PartitionConsumers = field(init=False)

    def __post_init__(self) -> None:
        self.alerter = Alerter(self.settings)
        self.outbound.sms = SmsAdapters(self.store, self.channels, self.settings)
        self.personal_inbox = PersonalInbox(
            self.store, self.pipeline, self.delivery, self.conversations
        )
        self.personal_inbox.alerter = self.alerter
        self.pipeline.personal = self.personal_inbox
        self.pipeline.limiter = InboundLimiter.from_settings(self.store.batcher, self.settings)
        self.conversations.metrics = self.sockets.metrics = self.metrics
        self.bots = BotDesk(
            self.store, self.conversations, self.delivery, lambda: self.channels.session
        )
        self.pipeline.bots = self.bots
        self.bots.metrics = self.metrics
        self.events = EventBus(self.store, self.broker, lambda: self.channels.session)
        self.pipeline.events = self.conversations.events = self.events
        self.dispatcher.events = self.outbound.events = self.events
        self.queue_events = QueueStatusEvents(
            self.config, self.store, self.events,
            interval=max(0.05, min(0.5, self.settings.tick_seconds * 2)),
        )  # fmt: skip
        self.numbers = NumberService(
            self.store, self.conversations, self.personal_inbox,
            inteliquent_provider(self.channels),
        )  # fmt: skip
        self.directory = Directory(self.store, self.config, self.adopt_config)
        self.conversations.streams.on_change = self.use_streams
        self.partitions = PartitionConsumers(
            self.broker, MemberStore(self.store.client), self.settings.node_id,
            interval=self.settings.balance_interval, metrics=self.metrics,
        )  # fmt: skip

    @classmethod
    def build(
        cls,
        settings: Settings,
        config: Config,
        *,
        store: RedisStore | None = None,
        broker: Broker | None = None,
        http: aiohttp.ClientSession | None = None,
        demo: bool = False,
    ) -> Runtime:
        store = store or RedisStore.from_url(
            settings.redis_url, max_connections=settings.redis_max_connections
        )
        broker = broker or make_broker(settings.broker_url)
        sockets = LocalSockets()
        delivery = Delivery(store, broker, sockets, settings.node_id)
        conversations = Conversations(config, store, broker, delivery, settings.partitions)
        channels = ChannelRegistry(http)
        metrics = Metrics()
        return cls(
            settings=settings,
            config=config,
            store=store,
            broker=broker,
            sockets=sockets,
            delivery=delivery,
            conversations=conversations,
            pipeline=Pipeline(
                store, broker, delivery, conversations, settings.partitions, metrics=metrics
            ),
            dispatcher=Dispatcher(config, store, broker, delivery, settings.tick_seconds),
            scheduler=Scheduler(store, conversations, settings.tick_seconds),
            outbound=OutboundWorker(
                broker, store, channels, WebChatAdapter(delivery), metrics, settings.partitions
            ),
            tokens=Tokens(store, settings.token_ttl_seconds),
            channels=channels,
            metrics=metrics,
            demo=demo,
        )

    async def start(self) -> None:
        await self.broker.start()
        await self.channels.start()
        await apply_config(self.store, self.directory.file_config)
        await self.directory.load()
        await self.conversations.streams.start(self.settings.tick_seconds)
        await self.store.account_cache.start(self.settings.tick_seconds)
        self.secret = await self.store.shared_secret()
        await self.pipeline.declare()
        await self.dispatcher.declare()
        await self.events.declare()
        await self.delivery.start()
        self.pipeline.consume(self.partitions)
        self.outbound.consume(self.partitions)
        await self.partitions.start()
        await self.dispatcher.start()
        await self.events.start()
        self.scheduler.start()
        self.directory.start()
        self._tasks.append(asyncio.create_task(self._heartbeat()))
        self._tasks.append(asyncio.create_task(self._queue_status_push()))
        self._tasks.append(asyncio.create_task(self.queue_events.run()))
        self._tasks.append(asyncio.create_task(self._index_older_sessions()))
        log.info("node %s started", self.settings.node_id)

    async def drain(self) -> None:
        """Graceful stop (SIGTERM): from now on webhooks answer 503 and /readyz says not
        ready; every consumer stops taking deliveries, work already started gets up to
        ``shutdown_grace_seconds`` to finish and the rest goes back to the broker for another
        process. Publishing still works, so finished work is queued on as usual."""
        if self.draining:
            return
        self.draining = True
        log.info("node %s draining", self.settings.node_id)
        await self.partitions.stop()  # no hand-over may subscribe again from now on
        await self.broker.drain(self.settings.shutdown_grace_seconds)

    async def close(self) -> None:
        for task in self._tasks:
            await cancel_quietly(task)
        self._tasks.clear()
        await self.directory.close()
        await self.conversations.streams.close()
        await self.store.account_cache.close()
        await self.numbers.close()
        await self.personal_inbox.close()
        await self.scheduler.close()
        await self.dispatcher.close()
        await self.partitions.close()
        await self.broker.close()
        await self.channels.close()
        await self.store.close()

    async def adopt_config(self, config: Config) -> None:
        """Use ``config`` (the directory changed): every holder of the configuration."""
        self.conversations.streams.config = config
        self.use_streams()
        await self.dispatcher.sync_queues()

    def use_streams(self) -> None:
        """Hand every holder of the configuration the media streams as they are now (created,
        edited and deleted at run time: ``router.stream_settings``)."""
        config = self.conversations.streams.effective()
        self.config = self.conversations.config = self.dispatcher.config = config
        self.queue_events.config = config

    async def _index_older_sessions(self) -> None:
        """Index for search the sessions an earlier version wrote without indexing them
        (``router.store.search_backfill``): once per store, by one process at a time; this
        one waits while another is at it, and takes over if that one stops halfway."""
        while True:
            try:
                indexed = await backfill_search_indexes(self.store.client)
            except BackfillBusy:
                await asyncio.sleep(BACKFILL_LOCK_SECONDS / 4)
                continue
            except (RedisError, LockError):
                log.warning("session search backfill interrupted; trying again", exc_info=True)
                await asyncio.sleep(self.settings.tick_seconds)
                continue
            if indexed:
                log.info("session search: %d session(s) of an earlier version indexed", indexed)
            return

    async def _heartbeat(self) -> None:
        """Keep this node's agents and customers marked as connected here."""
        while True:
            await asyncio.sleep(PRESENCE_TTL / 3)
            with contextlib.suppress(Exception):
                await self.store.refresh_presence(
                    list(self.sockets.agents), self.settings.node_id, PRESENCE_TTL
                )
                for tenant, key in list(self.sockets.visitors):
                    stream, _, party = key.partition(":")
                    await self.store.set_visitor_node(
                        tenant, stream, party, self.settings.node_id, PRESENCE_TTL * 2
                    )

    async def _queue_status_push(self) -> None:
        """Push changed queue statistics to the supervisors connected here."""
        interval = max(0.25, min(2.0, self.settings.tick_seconds * 4))
        while True:
            await asyncio.sleep(interval)
            try:
                await self.push_queue_status()
            except Exception:
                log.debug("queue status push failed", exc_info=True)

    async def push_queue_status(self) -> None:
        supervisors = [
            key
            for key, role in self.sockets.roles.items()
            if role in ("supervisor", "tenant_admin")
        ]
        for tenant_id in {tenant for tenant, _ in supervisors}:
            tenant = self.config.tenant(tenant_id)
            if tenant is None:
                continue
            for queue in tenant.queues:
                stats = await self.store.queue_stats(tenant_id, queue.id)
                stable = stats.model_copy(update={"longest_waiting_seconds": 0.0})
                key = (tenant_id, queue.id)
                previous = self._last_stats.get(key)
                if previous == stable and stats.queue_length == 0:
                    continue
                self._last_stats[key] = stable
                frame = frames.queue_status_frame(stats)
                for sup_tenant, agent in supervisors:
                    # .get: indexing the defaultdict would bring back a supervisor who left.
                    sockets = self.sockets.agents.get((sup_tenant, agent))
                    if sup_tenant == tenant_id and sockets:
                        await self.sockets.send(sockets, frame)
