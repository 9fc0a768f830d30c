"""Session search and the audit log on the in-process store, on fakeredis and on a real Redis
(``--redis-url``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import fakeredis
import pytest

from router.store import RedisStore
from tests.contracts.session_search import SearchContract

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class TestMemorySearch(SearchContract):
    @pytest.fixture
    async def store(self) -> AsyncIterator[RedisStore]:
        store = RedisStore.from_url("memory://")
        yield store
        await store.close()


class TestFakeRedisSearch(SearchContract):
    @pytest.fixture
    async def store(self) -> AsyncIterator[RedisStore]:
        store = RedisStore(fakeredis.FakeAsyncRedis(decode_responses=True))
        yield store
        await store.close()


@pytest.mark.redis
class TestRedisSearch(SearchContract):
    @pytest.fixture
    async def store(self, redis_url: str) -> AsyncIterator[RedisStore]:
        store = RedisStore.from_url(redis_url)
        await store.client.flushdb()
        yield store
        await store.close()
