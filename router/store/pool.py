"""The Redis connection pool: a free connection at once, or a wait for one.

redis-py's ``BlockingConnectionPool`` waits for a free connection when all are in use, which
is what a burst of webhooks needs; but it pays for that on every command, even when a
connection is free: a condition lock, a timeout scope, two observability hooks on checkout
and an event dispatch and two locks on release. Every webhook takes two or three connections
from the pool, so that bookkeeping was a third of what a store call cost.

``WaitingConnectionPool`` keeps the same behaviour (at most ``max_connections``; a command
that finds none free waits up to ``timeout`` seconds, then fails with ``ConnectionError``
like an unreachable store) with a short path when a connection is free: take it, check it
is connected and holds no unread data (else reconnect: an answer left on it belongs to
a command nobody waits for any more), use it. Waiters are woken one per released
connection, first come first served.

Its connections write each command under a timeout scope rather than in a Task of its own
(``router.store.connection``), unless the pool is given a connection class of its own.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any, cast

from redis.asyncio import ConnectionPool
from redis.asyncio.connection import AbstractConnection, Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError

from router.store.connection import timed_in_scope


class WaitingConnectionPool(ConnectionPool):
    def __init__(
        self,
        *,
        timeout: float = 10.0,
        connection_class: type[AbstractConnection] = Connection,
        **kwargs: Any,
    ) -> None:
        # ``from_url`` passes redis-py's TLS or Unix-socket class for those schemes.
        super().__init__(connection_class=timed_in_scope(connection_class), **kwargs)
        self.timeout = timeout
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def get_connection(
        self, command_name: object = None, *keys: object, **options: object
    ) -> AbstractConnection:
        """A connected, clean connection; waits up to ``timeout`` s when all are in use."""
        # Tasks already waiting go first: a free connection is theirs.
        connection = None if self._waiters else self._take()
        if connection is None:
            connection = await self._wait_for_connection()
        try:
            if not connection.is_connected:
                await connection.connect()  # type: ignore[no-untyped-call]
            elif await connection.can_read():  # an answer nobody read, or closed: start over
                await connection.disconnect()
                await connection.connect()  # type: ignore[no-untyped-call]
        except BaseException:
            await self.release(connection)
            raise
        return connection

    async def _wait_for_connection(self) -> AbstractConnection:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        first = True
        while True:
            waiter: asyncio.Future[None] = loop.create_future()
            if first:
                self._waiters.append(waiter)
            else:  # woken, yet nothing was free (the pool was reset): stay first in line
                self._waiters.appendleft(waiter)
            first = False
            try:
                async with asyncio.timeout_at(deadline):
                    await waiter
            except BaseException as exc:
                if waiter.done() and not waiter.cancelled():
                    self._wake_next()  # woken, but leaving: the next waiter gets it
                elif waiter in self._waiters:
                    self._waiters.remove(waiter)
                if isinstance(exc, TimeoutError):
                    raise RedisConnectionError("No connection available.") from None
                raise
            connection = self._take()
            if connection is not None:
                return connection

    def _take(self) -> AbstractConnection | None:
        """A free connection (made if there are fewer than the maximum), or None."""
        try:
            connection = self.get_available_connection()  # type: ignore[no-untyped-call]
        except MaxConnectionsError:
            return None
        return cast(AbstractConnection, connection)

    def _wake_next(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def release(self, connection: AbstractConnection) -> None:
        """Give ``connection`` back and wake the longest waiting task, if any."""
        self._in_use_connections.discard(connection)
        if connection.should_reconnect():  # type: ignore[no-untyped-call]
            await connection.disconnect()
        self._available_connections.append(connection)
        self._wake_next()
