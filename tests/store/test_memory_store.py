"""The store and session-search contracts on ``MemoryRedis`` (the in-process store), and the
in-process ports are exactly the scripts the application registers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
from redis.asyncio.lock import Lock

from bots.quota import BotQuota
from router.limits import InboundLimiter
from router.store import RedisStore
from router.store.consent import ConsentStore
from router.store.inbox import InboxStore
from router.store.memory import MemoryRedis
from router.store.memory.lua import registry, sha1
from router.store.queue_status import QueueStatusStore
from router.store.sms import SmsStore
from tests.contracts.session_search import SearchContract
from tests.contracts.store import StoreContract

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from redis.commands.core import AsyncScript


class TestMemoryStore(StoreContract, SearchContract):
    @pytest.fixture
    async def store(self) -> AsyncIterator[RedisStore]:
        store = RedisStore(MemoryRedis())
        yield store
        await store.close()


class _Recording(MemoryRedis):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.registered: list[str] = []

    def register_script(self, script: Any) -> AsyncScript:  # type: ignore[override]
        self.registered.append(script)
        return super().register_script(script)


def test_every_registered_script_has_a_port_and_every_port_a_script() -> None:
    client = _Recording()
    RedisStore(client)
    InboundLimiter(client, tenant_limit=1, party_limit=1, window=1.0)
    BotQuota(client)
    QueueStatusStore(client)
    ConsentStore(client)
    SmsStore(client)
    InboxStore(client)
    client.registered += [
        Lock.LUA_RELEASE_SCRIPT,
        Lock.LUA_EXTEND_SCRIPT,
        Lock.LUA_REACQUIRE_SCRIPT,
    ]
    missing = [text.splitlines()[:3] for text in client.registered if sha1(text) not in registry()]
    assert missing == []
    assert set(registry()) == {sha1(text) for text in client.registered}
