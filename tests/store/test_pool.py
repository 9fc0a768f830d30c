"""The store's connection pool on a real Redis: at most ``max_connections``, waiters served
in order when connections come back, a clear error after ``timeout``, and no connection
handed out with a stale answer still unread on it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import ConnectionError as RedisConnectionError

from router.store.pool import WaitingConnectionPool


@pytest.fixture
async def url(redis_url: str) -> AsyncIterator[str]:
    client = aioredis.Redis.from_url(redis_url)
    await client.flushdb()
    yield redis_url
    await client.flushdb()
    await client.aclose()


class ObservedPool(WaitingConnectionPool):
    """Tells when a task starts waiting for a connection."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.waits = 0
        self.changed = asyncio.Event()

    async def _wait_for_connection(self) -> AbstractConnection:
        self.waits += 1
        self.changed.set()  # the waiter is in line before this task yields
        return await super()._wait_for_connection()


async def waiting(pool: ObservedPool, count: int) -> None:
    """Until ``count`` tasks have started waiting for a connection."""
    while pool.waits < count:
        pool.changed.clear()
        await pool.changed.wait()


async def test_commands_wait_for_a_free_connection_and_are_served_in_order(url: str) -> None:
    pool = ObservedPool.from_url(url, decode_responses=True, max_connections=1)
    client = aioredis.Redis.from_pool(pool)
    try:
        held = await pool.get_connection()
        order: list[str] = []

        async def incr(name: str) -> None:
            await client.incr("n")
            order.append(name)

        first = asyncio.create_task(incr("first"))
        await waiting(pool, 1)
        second = asyncio.create_task(incr("second"))
        await waiting(pool, 2)
        assert not first.done()
        assert not second.done()
        await pool.release(held)  # the only connection comes back
        await asyncio.gather(first, second)
        assert order == ["first", "second"]
        assert await client.get("n") == "2"
        assert len(pool._available_connections) + len(pool._in_use_connections) == 1
    finally:
        await client.aclose()


async def test_no_free_connection_within_the_timeout_is_an_error(url: str) -> None:
    pool = WaitingConnectionPool.from_url(
        url, decode_responses=True, max_connections=1, timeout=0.05
    )
    client = aioredis.Redis.from_pool(pool)
    try:
        held = await pool.get_connection()
        with pytest.raises(RedisConnectionError, match="No connection available"):
            await client.get("n")
        assert not pool._waiters
        await pool.release(held)
        assert await client.set("n", "1")  # the pool works again
    finally:
        await client.aclose()


async def test_a_waiter_that_gives_up_passes_its_turn_on(url: str) -> None:
    pool = ObservedPool.from_url(url, decode_responses=True, max_connections=1)
    client = aioredis.Redis.from_pool(pool)
    try:
        held = await pool.get_connection()
        quitter = asyncio.create_task(client.incr("n"))
        await waiting(pool, 1)
        stayer = asyncio.create_task(client.incr("n"))
        await waiting(pool, 2)
        await pool.release(held)  # wakes the quitter ...
        quitter.cancel()  # ... which is cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await quitter
        assert await stayer == 1
        assert not pool._waiters
    finally:
        await client.aclose()


async def test_a_connection_with_unread_data_is_not_reused_as_is(url: str) -> None:
    pool = WaitingConnectionPool.from_url(url, decode_responses=True, max_connections=1)
    client = aioredis.Redis.from_pool(pool)
    try:
        await client.set("k", "stale")
        connection = await pool.get_connection()
        await connection.send_command("GET", "k")  # its answer is never read
        # The answer arrives on the socket; nothing but reading it would signal that.
        while not await connection.can_read():  # noqa: ASYNC110
            await asyncio.sleep(0)
        await pool.release(connection)
        await client.set("k", "fresh")
        assert await client.get("k") == "fresh"  # not the unread "stale"
    finally:
        await client.aclose()
