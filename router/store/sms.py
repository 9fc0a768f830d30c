"""What the SMS/MMS API needs from the store: an outbound-first session, and where an
outbound SMS message is filed.

``P msg:{message id}`` -> ``{sid}|{seq}`` (kept ``MESSAGE_INDEX_TTL``); the session itself is
opened by ``scripts/open_outbound.lua``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from router.errors import StoreError
from router.models import ChannelKind, Party
from router.store.base import script_source, tenant_prefix

MESSAGE_INDEX_TTL = 90 * 24 * 3600


class SmsStore:
    def __init__(self, client: aioredis.Redis) -> None:
        self._r = client
        self._open = client.register_script(script_source("open_outbound"))

    async def open_outbound_session(
        self, tenant: str, *, stream: str, channel: ChannelKind, account: str, party: Party,
        queue: str, priority: int, skills: Sequence[str], reopen_window_seconds: float,
    ) -> tuple[str, bool]:  # fmt: skip
        """The session to write to ``party`` on ``stream``: (session id, newly opened)."""
        now = int(datetime.now(UTC).timestamp() * 1000)
        try:
            outcome, sid = await self._open(
                args=[
                    tenant_prefix(tenant), stream, party.id, uuid.uuid4().hex, now,
                    channel.value, account, party.model_dump_json(), queue, priority,
                    ",".join(skills), int(reopen_window_seconds * 1000),
                ]
            )  # fmt: skip
        except RedisError as exc:
            raise StoreError(f"cannot open an outbound session: {exc}") from exc
        return str(sid), outcome == "new"

    async def index_message(self, tenant: str, message_id: str, session_id: str, seq: int) -> None:
        await self._r.set(
            f"{tenant_prefix(tenant)}msg:{message_id}", f"{session_id}|{seq}", ex=MESSAGE_INDEX_TTL
        )

    async def locate(self, tenant: str, message_id: str) -> tuple[str, int] | None:
        found = await self._r.get(f"{tenant_prefix(tenant)}msg:{message_id}")
        if found is None:
            return None
        session_id, _, seq = str(found).rpartition("|")
        return session_id, int(seq)
