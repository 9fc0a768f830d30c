"""The ``queue.status`` event (docs/event-webhooks.md): a queue's statistics changed.

Every process checks, every ``interval`` seconds, the queues of the tenants that have a
subscription wanting ``queue.status``. A queue's statistics *changed* when its queue length
or one of its agent counts differs from what was last emitted for it (the longest wait alone,
which grows every second while anything waits, is no change). The store's compare-and-set
(``router.store.queue_status``) lets exactly one process emit each change, at most once per
``throttle`` seconds per queue: changes within that time are coalesced into the next event.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from router.config import Config
from router.event_bus import EventBus
from router.models import QueueStats
from router.store import RedisStore
from router.store.queue_status import QueueStatusStore

log = logging.getLogger(__name__)
EVENT = "queue.status"
THROTTLE_SECONDS = 1.0


def status_data(stats: QueueStats) -> dict[str, Any]:
    """The ``data`` of a ``queue.status`` event."""
    return stats.model_dump(mode="json", exclude={"tenant"})


def signature(stats: QueueStats) -> str:
    """What must differ for a change: everything but the longest wait."""
    return stats.model_copy(update={"longest_waiting_seconds": 0.0}).model_dump_json()


class QueueStatusEvents:
    def __init__(
        self, config: Config, store: RedisStore, events: EventBus, *, interval: float
    ) -> None:
        self.config = config
        self.store = store
        self.events = events
        self.interval = interval
        self.throttle = THROTTLE_SECONDS
        self.last = QueueStatusStore(store.client)

    async def check(self) -> int:
        """Emit ``queue.status`` for every changed queue this process wins; how many."""
        emitted = 0
        for tenant in self.config.tenants:
            if not await self.events.wants(tenant.id, EVENT):
                continue
            for queue in tenant.queues:
                stats = await self.store.queue_stats(tenant.id, queue.id)
                hold_ms = int(self.throttle * 1000)
                if await self.last.claim(tenant.id, queue.id, signature(stats), hold_ms):
                    await self.events.emit(tenant.id, EVENT, status_data(stats))
                    emitted += 1
        return emitted

    async def run(self) -> None:
        task = asyncio.current_task()
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception:
                log.debug("queue.status check failed", exc_info=True)
            if task is not None and task.cancelling():
                # A cancellation that arrived as an awaited call completed can be lost
                # (``wait_for`` in Python 3.11): stop anyway.
                raise asyncio.CancelledError
