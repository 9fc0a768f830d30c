"""The store and session-search contracts on a real Redis (``--redis-url``); its database is
flushed per test."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from router.store import RedisStore
from tests.contracts.session_search import SearchContract
from tests.contracts.store import StoreContract

if TYPE_CHECKING:
    pass

pytestmark = pytest.mark.redis


class TestRedisStore(StoreContract, SearchContract):
    @pytest.fixture
    def store(self, redis_store: RedisStore) -> RedisStore:
        return redis_store
