"""Fixtures shared by the store tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from router.store import RedisStore


@pytest.fixture
async def redis_store(redis_url: str) -> AsyncIterator[RedisStore]:
    """A store on the real Redis of ``--redis-url``, its database flushed first."""
    store = RedisStore.from_url(redis_url)
    await store.client.flushdb()
    yield store
    await store.close()
