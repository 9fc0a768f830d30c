"""The store's connections write under a timeout scope and otherwise behave as redis-py's:
a write or read that hangs times out with the same error, a cancelled command closes its
connection, and no answer left unread is handed to the next command.

The hanging cases run against a tiny TCP server on a real socket that accepts and then
never reads (so a large write fills the socket buffers and waits) or reads and never
answers; each is run with redis-py's stock connection too, to show the same outcome."""

from __future__ import annotations

import asyncio
import secrets
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import cast

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError
from redis.exceptions import TimeoutError as RedisTimeoutError

from router.store.connection import (
    ScopedConnection,
    ScopedSSLConnection,
    ScopedUnixConnection,
)
from router.store.pool import WaitingConnectionPool

# Bytes far beyond the client's send buffer plus the silent server's small receive buffer.
LARGE = 16 * 1024 * 1024

# Fails a test whose command is not bounded by the socket timeout (0.2 s), not hangs it.
GUARD = 5.0


class StockConnection(Connection):
    """redis-py's connection unchanged (the pool keeps a class of one's own as given)."""


@dataclass
class Server:
    """A TCP server on 127.0.0.1 whose connections are handled by ``handle``."""

    port: int = 0
    command_arrived: asyncio.Event = field(default_factory=asyncio.Event)
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    stop: asyncio.Event = field(default_factory=asyncio.Event)


Handler = Callable[[Server, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def setup_commands(data: bytes) -> int:
    """How many of the commands redis-py sends on connect (HELLO, CLIENT MAINT_NOTIFICATIONS,
    CLIENT SETINFO: some sent together) ``data`` holds."""
    return data.count(b"$5\r\nHELLO\r\n") + data.count(b"$6\r\nCLIENT\r\n")


async def handshake(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer the connection's setup ("+OK" will do); return once a command follows it."""
    while count := setup_commands(await reader.read(65536)):
        writer.write(b"+OK\r\n" * count)


async def serve(handle: Handler) -> AsyncIterator[Server]:
    server = Server()
    handlers: set[asyncio.Task[None]] = set()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            await handshake(reader, writer)
            server.command_arrived.set()
            await handle(server, reader, writer)
        finally:
            writer.close()
            await writer.wait_closed()
            server.closed.set()

    sock = socket.socket()
    # A small receive window, so a large write from the client soon has to wait.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.bind(("127.0.0.1", 0))
    server.port = sock.getsockname()[1]
    listener = await asyncio.start_server(on_connect, sock=sock)
    try:
        yield server
    finally:
        listener.close()
        server.stop.set()
        await asyncio.gather(*handlers, return_exceptions=True)
        await listener.wait_closed()


async def never_read(server: Server, _: asyncio.StreamReader, __: asyncio.StreamWriter) -> None:
    await server.stop.wait()


async def never_answer(_: Server, reader: asyncio.StreamReader, __: asyncio.StreamWriter) -> None:
    while await reader.read(65536):  # read what is sent, answer nothing
        pass


async def reset(_: Server, __: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    # Linger 0: closing resets the connection rather than ending it in order.
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@pytest.fixture
async def silent() -> AsyncIterator[Server]:
    async for server in serve(never_read):
        yield server


@pytest.fixture
async def mute() -> AsyncIterator[Server]:
    async for server in serve(never_answer):
        yield server


@pytest.fixture
async def resetting() -> AsyncIterator[Server]:
    async for server in serve(reset):
        yield server


def client_of(server: Server, connection_class: type[AbstractConnection]) -> aioredis.Redis:
    pool = WaitingConnectionPool(
        host="127.0.0.1",
        port=server.port,
        socket_timeout=0.2,
        max_connections=1,
        connection_class=connection_class,
    )
    return aioredis.Redis.from_pool(pool)


def only_connection(client: aioredis.Redis) -> AbstractConnection:
    pool = client.connection_pool
    (connection,) = [*pool._available_connections, *pool._in_use_connections]
    return connection


BOTH = pytest.mark.parametrize("connection_class", [StockConnection, ScopedConnection])


def test_the_pool_uses_scoped_connections_for_every_scheme() -> None:
    schemes = {
        "redis://127.0.0.1:6379/0": ScopedConnection,
        "rediss://127.0.0.1:6379/0": ScopedSSLConnection,
        "unix:///tmp/redis.sock?db=0": ScopedUnixConnection,
    }
    for url, expected in schemes.items():
        assert WaitingConnectionPool.from_url(url).connection_class is expected
    assert issubclass(ScopedSSLConnection, SSLConnection)
    assert issubclass(ScopedUnixConnection, UnixDomainSocketConnection)
    own = WaitingConnectionPool(connection_class=StockConnection)
    assert own.connection_class is StockConnection


PACKED_ARGUMENTS: list[tuple[object, ...]] = [
    ("EVALSHA", "f" * 40, 2, "sb:t:{demo}:s:1", b"raw\r\nbytes", 0, -17, 1.5, 1e300, -0.0),
    ("SET", "caf\u00e9 \u2615", memoryview(b"view"), bytearray(b"array"), "x" * 10_000),
    ("CONFIG GET", "maxmemory"),  # a command name of two words is sent as two arguments
    (b"CLIENT SETNAME", "sb"),
]


@pytest.mark.parametrize("args", PACKED_ARGUMENTS)
def test_commands_are_packed_as_redis_py_packs_them(args: tuple[object, ...]) -> None:
    scoped, stock = ScopedConnection(), StockConnection()
    assert b"".join(scoped.pack_command(*args)) == b"".join(stock.pack_command(*args))  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [None, True, ["a", "list"], {"a": 1}])
def test_an_argument_redis_cannot_take_is_a_data_error(bad: object) -> None:
    for connection in (ScopedConnection(), StockConnection()):
        with pytest.raises(DataError):
            connection.pack_command("SET", "k", bad)  # type: ignore[arg-type]


def test_another_encoding_is_packed_by_redis_py() -> None:
    scoped = ScopedConnection(encoding="latin-1")
    assert b"".join(scoped.pack_command("SET", "k", "caf\u00e9")).endswith(b"caf\xe9\r\n")
    strict = ScopedConnection(encoding_errors="replace")
    assert b"".join(strict.pack_command("SET", "k", "\ud800")).endswith(b"?\r\n")


@BOTH
async def test_a_write_that_cannot_complete_times_out(
    silent: Server, connection_class: type[AbstractConnection]
) -> None:
    client = client_of(silent, connection_class)
    try:
        with pytest.raises(RedisTimeoutError, match="Timeout writing to socket"):
            async with asyncio.timeout(GUARD):
                await client.set("k", b"x" * LARGE)
        assert not only_connection(client).is_connected  # half a command went out
    finally:
        await client.aclose()


@BOTH
async def test_a_read_that_gets_no_answer_times_out(
    mute: Server, connection_class: type[AbstractConnection]
) -> None:
    client = client_of(mute, connection_class)
    try:
        with pytest.raises(RedisTimeoutError, match="Timeout reading from"):
            async with asyncio.timeout(GUARD):
                await client.get("k")
        assert not only_connection(client).is_connected
    finally:
        await client.aclose()


@BOTH
async def test_a_reset_connection_is_a_connection_error(
    resetting: Server, connection_class: type[AbstractConnection]
) -> None:
    client = client_of(resetting, connection_class)
    try:
        connection = await cast(WaitingConnectionPool, client.connection_pool).get_connection()
        await connection.send_command("PING")  # the server resets the connection on it
        await resetting.closed.wait()
        with pytest.raises(RedisConnectionError, match="while writing to socket"):
            await connection.send_command("PING")
        assert not connection.is_connected
    finally:
        await client.aclose()


async def test_a_command_cancelled_mid_write_closes_its_connection(silent: Server) -> None:
    client = client_of(silent, ScopedConnection)
    try:
        command = asyncio.ensure_future(client.set("k", b"x" * LARGE))
        await silent.command_arrived.wait()
        connection = only_connection(client)
        # The socket took what it could; the rest waits for room that never comes.
        assert connection._writer is not None
        assert connection._writer.transport.get_write_buffer_size() > 0
        assert not command.done()
        command.cancel()
        with pytest.raises(asyncio.CancelledError):
            await command
        assert not connection.is_connected
        assert client.connection_pool._in_use_connections == set()
    finally:
        await client.aclose()


async def test_a_command_cancelled_mid_read_leaves_no_answer_for_the_next(
    redis_url: str,
) -> None:
    name = f"cancelled-read-{secrets.token_hex(4)}"
    pool = WaitingConnectionPool.from_url(
        redis_url, decode_responses=True, max_connections=1, client_name=name
    )
    client = aioredis.Redis.from_pool(pool)
    probe = aioredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        await client.delete("q")
        blocked = asyncio.ensure_future(client.blpop(["q"], timeout=0))
        while not await blocked_in_redis(probe, name):  # noqa: ASYNC110
            await asyncio.sleep(0)
        blocked.cancel()
        with pytest.raises(asyncio.CancelledError):
            await blocked
        assert isinstance(only_connection(client), ScopedConnection)
        # Had its connection been kept, the cancelled BLPOP would take the pushed item,
        # or the next command would read the BLPOP's answer.
        async with asyncio.timeout(GUARD):  # a connection still blocked would never answer
            assert await client.rpush("q", "item") == 1
            assert await client.lpop("q") == "item"
    finally:
        await client.delete("q")
        await client.aclose()
        await probe.aclose()


async def blocked_in_redis(probe: aioredis.Redis, name: str) -> bool:
    """Whether the client named ``name`` is blocked in a command on the server."""
    return any(c["name"] == name and "b" in c["flags"] for c in await probe.client_list())
