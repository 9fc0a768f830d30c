"""The store and session-search contracts on fakeredis' in-process server."""

from __future__ import annotations

from typing import TYPE_CHECKING

import fakeredis
import pytest

from router.store import RedisStore
from tests.contracts.session_search import SearchContract
from tests.contracts.store import StoreContract

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class TestFakeRedisStore(StoreContract, SearchContract):
    @pytest.fixture
    async def store(self) -> AsyncIterator[RedisStore]:
        store = RedisStore(fakeredis.FakeAsyncRedis(decode_responses=True))
        yield store
        await store.close()
