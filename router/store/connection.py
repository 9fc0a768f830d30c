"""Redis connections that bound a write with a timeout scope, not a Task.

redis-py's connections bound every write by the socket timeout (5 s unless set) with
``asyncio.wait_for``, which on Python 3.11 runs the write in a Task of its own: a Task, a
future, a timer and three callbacks per command, although the write almost never waits
(only when the socket's send buffer is full). These connections write in the calling task
and only wait, under an ``asyncio.timeout`` scope, when the kernel did not take the whole
command at once (a timer per command costs too; the read that follows has its own).

The write still happens in the event loop's next iteration, as it did in redis-py's Task:
the connection yields once first. That timing matters more than it seems: the commands of
the tasks that became ready together then reach Redis together and wake it once. Writing
each at once instead (measured with 16 tasks running scripts) saved the Task's work but
cost the client more than that in kernel time, waking Redis for every command.

Otherwise they behave as redis-py's: the same timeout (``socket_timeout``, read at each
write, so a relaxed timeout during server maintenance still applies), the same errors
(``redis.exceptions.TimeoutError`` on a timeout, ``ConnectionError`` on a socket error, the
connection closed after either, or after a cancellation mid-write, since part of the
command may have been sent). The retry and the observability hooks around a command are
redis-py's, unchanged (the hooks return at once when no metrics are configured).

They also pack commands with hiredis (redis-py's own ``HiredisRespSerializer``, which its
synchronous connections use and its asyncio ones do not) when it is installed and the
encoding is the default UTF-8: about a third of the Python packer's time for a script's
twenty-odd arguments, with the same bytes and the same ``DataError`` for a bad argument.

``WaitingConnectionPool`` uses them in place of redis-py's stock TCP, TLS and Unix-socket
connections (``timed_in_scope``); a connection class of one's own is used as given.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any, cast

from redis.asyncio.connection import (
    AbstractConnection,
    Connection,
    SSLConnection,
    UnixDomainSocketConnection,
)
from redis.connection import HiredisRespSerializer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.typing import EncodableT
from redis.utils import HIREDIS_AVAILABLE

_HIREDIS = HiredisRespSerializer() if HIREDIS_AVAILABLE else None


class ScopedWrites(AbstractConnection):
    """Writes a command under an ``asyncio.timeout`` scope (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Decided once per connection: its encoding does not change.
        encoder = self.encoder
        utf8 = encoder.encoding.lower().replace("_", "-") in ("utf-8", "utf8")
        self._hiredis = _HIREDIS if utf8 and encoder.encoding_errors == "strict" else None

    def pack_command(self, *args: EncodableT) -> list[bytes]:
        if self._hiredis is None:
            return super().pack_command(*args)
        # (``pack`` is annotated as taking lists; it takes the command's arguments.)
        return cast(list[bytes], self._hiredis.pack(*cast(tuple[Any, ...], args)))

    async def send_packed_command(
        self, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        # The steps and error mapping of AbstractConnection.send_packed_command.
        if not self.is_connected:
            await self.connect_check_health(check_health=False)
        if check_health and self.health_check_interval:  # check_health() does nothing else
            await self.check_health()  # type: ignore[no-untyped-call]
        try:
            if isinstance(command, str):
                command = command.encode()
            if isinstance(command, bytes):
                command = [command]
            # Write in the loop's next iteration, as redis-py's Task did (see above).
            await asyncio.sleep(0)
            writer = self._writer
            if writer is None:  # closed meanwhile from elsewhere (a pool's disconnect)
                raise RedisConnectionError("Connection closed before writing.")
            writer.writelines(command)
            transport = writer.transport
            if transport.get_write_buffer_size() or transport.is_closing():
                # The kernel did not take it all (or the connection is going): wait for it,
                # bounded. Mostly it took it, and there is nothing to wait for or time.
                # ``None``: no timeout, as redis-py takes a socket timeout of 0 or None.
                async with asyncio.timeout(self.socket_timeout or None):
                    await writer.drain()
        except TimeoutError:  # asyncio's, or a socket's ETIMEDOUT (both as redis-py)
            await self.disconnect(nowait=True)
            raise RedisTimeoutError("Timeout writing to socket") from None
        except OSError as exc:
            await self.disconnect(nowait=True)
            if len(exc.args) == 1:
                err_no, message = "UNKNOWN", exc.args[0]
            else:
                err_no, message = exc.args[0], exc.args[1]
            raise RedisConnectionError(
                f"Error {err_no} while writing to socket. {message}."
            ) from exc
        except BaseException:
            # Cancelled (or failed otherwise) mid-write: part of the command may be on the
            # wire, so the connection cannot carry another one.
            await self.disconnect(nowait=True)
            raise


class ScopedConnection(ScopedWrites, Connection):
    """A TCP connection."""


class ScopedSSLConnection(ScopedWrites, SSLConnection):
    """A TLS connection (``rediss://``)."""


class ScopedUnixConnection(ScopedWrites, UnixDomainSocketConnection):
    """A Unix-socket connection (``unix://``)."""


_SCOPED: dict[type[AbstractConnection], type[AbstractConnection]] = {
    Connection: ScopedConnection,
    SSLConnection: ScopedSSLConnection,
    UnixDomainSocketConnection: ScopedUnixConnection,
}


def timed_in_scope(connection_class: type[AbstractConnection]) -> type[AbstractConnection]:
    """The scoped-write version of one of redis-py's stock connection classes; any other
    class as it is (a subclass may have write behaviour of its own)."""
    return _SCOPED.get(connection_class, connection_class)
