"""The store and session-search contracts on a real Redis (``--redis-url``); its database is
flushed per test."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from router.store import RedisStore
from tests.contracts.session_search import SearchContract
from tests.contracts.store import StoreContract

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.redis


class TestRedisStore(StoreContract, SearchContract):
    @pytest.fixture
    async def store(self, redis_url: str) -> AsyncIterator[RedisStore]:
        store = RedisStore.from_url(redis_url)
        await store.client.flushdb()
        yield store
        await store.close()
