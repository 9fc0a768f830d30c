"""The outbound path: messages filed in a session go out through their channel's adapter.

Outbound partitions are ordered like inbound ones, so one session's replies leave in the
order they were written. Provider failures become broker signals: rate limits and outages
are retried later (``ProviderUnavailable`` with the broker's exponential backoff),
permanent failures are dead-lettered with the provider's reason.
"""

from __future__ import annotations

import logging

from channels.base import ChannelAdapter
from channels.errors import PermanentSendError, RateLimited
from queues import names
from queues.base import Broker, Envelope, Reject, Retry
from router.events import OutboundWork
from router.models import ChannelKind
from router.ordering import KeyedSerializer

log = logging.getLogger(__name__)


class OutboundWorker:
    def __init__(
        self, broker: Broker, adapters: dict[ChannelKind, ChannelAdapter], partitions: int
    ) -> None:
        self.broker = broker
        self.adapters = adapters
        self.partitions = partitions
        self._serial = KeyedSerializer()

    async def start(self) -> None:
        for i in range(self.partitions):
            await self.broker.subscribe(names.outbound(i), self._on_outbound, prefetch=64)

    async def _on_outbound(self, env: Envelope) -> None:
        work = OutboundWork.model_validate_json(env.body)
        await self._serial.run(f"{work.tenant}|{work.session_id}", lambda: self.send(work))

    async def send(self, work: OutboundWork) -> None:
        adapter = self.adapters.get(work.message.channel)
        if adapter is None:
            raise Reject(f"no adapter for channel {work.message.channel}")
        try:
            await adapter.send(work.message)
        except RateLimited as exc:
            raise Retry(exc.retry_after, str(exc)) from exc
        except PermanentSendError as exc:
            raise Reject(str(exc)) from exc
