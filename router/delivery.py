"""Getting frames to sockets wherever they are connected.

Each process holds some agent and customer WebSockets (``LocalSockets``) and consumes its
own node queue. ``Delivery`` sends to a local socket directly and to a remote one through
the owner's node queue. Delivery to a socket is best effort: everything sent is also in the
session history, and a client that reconnects is given the history again (agents dedupe on
``(session_id, seq)``).

The node queue also carries ``FilingReport``s: a process that submitted a message and waits
to hear which session it was filed under (``expect_filing``) is told by whichever process
filed it (``report_filing``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING

from aiohttp import WSCloseCode, web

from queues import names
from queues.base import Broker, BrokerError, Envelope, QueueSpec
from router import frames, logs
from router.events import FilingReport, NodeFrame, envelope
from router.models import utcnow
from router.store import RedisStore

if TYPE_CHECKING:
    from router.metrics import Metrics

log = logging.getLogger(__name__)
# Seconds one frame may take to enter a socket's buffer before the socket is closed.
SEND_TIMEOUT = 5.0


class LocalSockets:
    """The WebSockets held by this process, by agent and by web-chat visitor."""

    # Slow sockets dropped (router.metrics; set by the runtime).
    metrics: Metrics | None = None

    def __init__(self) -> None:
        self.agents: dict[tuple[str, str], set[web.WebSocketResponse]] = defaultdict(set)
        self.visitors: dict[tuple[str, str], set[web.WebSocketResponse]] = defaultdict(set)
        self.roles: dict[tuple[str, str], str] = {}

    def add_agent(self, tenant: str, agent: str, role: str, ws: web.WebSocketResponse) -> None:
        self.agents[(tenant, agent)].add(ws)
        self.roles[(tenant, agent)] = role

    def remove_agent(self, tenant: str, agent: str, ws: web.WebSocketResponse) -> bool:
        """Forget one socket; True when it was the agent's last one here."""
        sockets = self.agents.get((tenant, agent))
        if sockets is None:
            return True
        sockets.discard(ws)
        if sockets:
            return False
        del self.agents[(tenant, agent)]
        self.roles.pop((tenant, agent), None)
        return True

    def add_visitor(self, tenant: str, key: str, ws: web.WebSocketResponse) -> None:
        self.visitors[(tenant, key)].add(ws)

    def remove_visitor(self, tenant: str, key: str, ws: web.WebSocketResponse) -> bool:
        sockets = self.visitors.get((tenant, key))
        if sockets is None:
            return True
        sockets.discard(ws)
        if sockets:
            return False
        del self.visitors[(tenant, key)]
        return True

    def all_sockets(self) -> list[web.WebSocketResponse]:
        out = [ws for group in self.agents.values() for ws in group]
        out += [ws for group in self.visitors.values() for ws in group]
        return out

    async def send(self, sockets: set[web.WebSocketResponse], frame: str) -> int:
        sent = 0
        for ws in list(sockets):
            if ws.closed:
                continue
            try:
                # A client that does not read fills its buffer; past SEND_TIMEOUT it is
                # closed (1013) rather than holding up everyone else's frames.
                async with asyncio.timeout(SEND_TIMEOUT):
                    await ws.send_str(frame)
                sent += 1
            except TimeoutError:
                await self._drop_slow(ws)
            except (ConnectionError, RuntimeError):
                log.debug("socket went away while sending")
        return sent

    async def _drop_slow(self, ws: web.WebSocketResponse) -> None:
        log.warning("closing a WebSocket that does not read its frames")
        if self.metrics is not None:
            self.metrics.buffer_drops.labels("socket").inc()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"too slow"), SEND_TIMEOUT
            )


class Delivery:
    def __init__(
        self, store: RedisStore, broker: Broker, sockets: LocalSockets, node_id: str
    ) -> None:
        self.store = store
        self.broker = broker
        self.sockets = sockets
        self.node_id = node_id
        self.queue = names.node(node_id)
        # (tenant, dedupe key) -> the futures of requests waiting for its filing report.
        self._filings: dict[tuple[str, str], set[asyncio.Future[str]]] = defaultdict(set)

    async def start(self) -> None:
        await self.broker.declare(QueueSpec(name=self.queue, durable=False, exclusive=True))
        await self.broker.subscribe(self.queue, logs.with_envelope(self._handle), prefetch=256)

    async def to_agent(self, tenant: str, agent: str, node: str | None, item: NodeFrame) -> None:
        if node is None:
            return  # not connected anywhere; they get it from the store when they connect
        if node == self.node_id:
            await self._deliver(item)
            return
        try:
            # Best effort (no confirm): a node that is gone has taken its queue with it,
            # and the agent resyncs from the store when they reconnect.
            await self.broker.notify(names.node(node), envelope(item))
        except BrokerError:
            log.info("no connection to the broker for an agent frame to node %s", node)

    async def frame_to_agent(self, tenant: str, agent: str, node: str | None, frame: str) -> None:
        await self.to_agent(
            tenant,
            agent,
            node,
            NodeFrame(tenant=tenant, target="agent", recipient=agent, frame=frame),
        )

    async def to_visitor(self, tenant: str, stream: str, party: str, frame: str) -> bool:
        """Send to a web-chat customer; False when they are not connected anywhere."""
        key = f"{stream}:{party}"
        item = NodeFrame(tenant=tenant, target="visitor", recipient=key, frame=frame)
        if (tenant, key) in self.sockets.visitors:
            await self._deliver(item)
            return True
        node = await self.store.visitor_node(tenant, stream, party)
        if node is None:
            return False
        try:
            await self.broker.notify(names.node(node), envelope(item))
        except BrokerError:
            return False
        return True

    @contextlib.contextmanager
    def expect_filing(self, tenant: str, dedupe_key: str) -> Iterator[asyncio.Future[str]]:
        """Within the block, the future is resolved with the session id once a message
        submitted with ``dedupe_key`` and ``report_to`` this process is filed. Enter it
        before submitting, so the report cannot come first."""
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        waiting = self._filings[(tenant, dedupe_key)]
        waiting.add(future)
        try:
            yield future
        finally:
            waiting.discard(future)
            if not waiting:
                self._filings.pop((tenant, dedupe_key), None)
            future.cancel()

    async def report_filing(self, node: str, report: FilingReport) -> None:
        """Tell ``node`` (best effort) that a message it waits for was filed."""
        if node == self.node_id:
            self._filed(report)
            return
        try:
            await self.broker.notify(names.node(node), envelope(report))
        except BrokerError:
            log.info("no connection to the broker for a filing report to node %s", node)

    def _filed(self, report: FilingReport) -> None:
        for future in self._filings.get((report.tenant, report.dedupe_key), ()):
            if not future.done():
                future.set_result(report.session_id)

    async def _handle(self, env: Envelope) -> None:
        if env.type == FilingReport.__name__:
            self._filed(FilingReport.model_validate_json(env.body))
            return
        await self._deliver(NodeFrame.model_validate_json(env.body))

    async def _deliver(self, item: NodeFrame) -> None:
        if item.target == "visitor":
            sockets = self.sockets.visitors.get((item.tenant, item.recipient))
            if sockets and item.frame:
                await self.sockets.send(sockets, item.frame)
            return
        sockets = self.sockets.agents.get((item.tenant, item.recipient))
        if not sockets:
            return
        frame = item.frame
        if item.kind != "frame":
            frame = await self.build(item)
        if frame:
            await self.sockets.send(sockets, frame)

    async def build(self, item: NodeFrame) -> str | None:
        """Build an ``offer`` or ``assigned`` frame from the store, if still current."""
        assert item.session_id is not None
        session = await self.store.load_session(item.tenant, item.session_id)
        if session is None:
            return None
        history = [frames.message_view(m) for m in session.history]
        if item.kind == "offer":
            offer = session.offer
            if offer is None or offer.id != item.offer_id or offer.agent != item.recipient:
                return None  # already answered or expired
            return frames.dumps(
                {
                    "type": "offer",
                    "session_id": session.id,
                    "offer_id": offer.id,
                    "queue": session.queue,
                    "expires_at": offer.expires_at.isoformat(),
                    "expires_in": max(0.0, (offer.expires_at - utcnow()).total_seconds()),
                    "customer": frames.customer_view(session),
                    "channel": session.channel.value,
                    "history": history,
                }
            )
        if session.agent != item.recipient:
            return None
        return frames.dumps(
            {"type": "assigned", "session": frames.session_view(session), "history": history}
        )
