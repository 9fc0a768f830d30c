"""A lean HTTP/1.1 client for posting signed webhooks, so the load process stays cheap.

Keep-alive connections on an ``asyncio.Protocol``, one request in flight per connection and
at most ``limit`` connections (a post beyond waits its turn): ``WebhookClient.post`` takes an
idle connection (or opens one), writes the request with a
``Content-Length`` body and the ``X-Hub-Signature-256`` header, and returns the response's
status code once its status line, headers and ``Content-Length`` body have arrived. A
response the client cannot frame (no ``Content-Length``, chunked, malformed) raises
``ResponseError`` and its connection is dropped; so is a connection the server closes or
asks to close.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from typing import cast

HEAD_END = b"\r\n\r\n"
CONTENT_LENGTH = b"\r\ncontent-length:"
NO_BODY_STATUSES = (204, 304)


class ResponseError(Exception):
    """The server's response could not be read as one HTTP/1.1 response."""


def parse_head(head: bytes) -> tuple[int, int, bool]:
    """Status, body length and whether the connection closes after, from a response head."""
    line_end = head.find(b"\r\n")
    version, _, rest = (head if line_end < 0 else head[:line_end]).partition(b" ")
    if not version.startswith(b"HTTP/1."):
        raise ResponseError(f"not an HTTP/1.x status line: {head[:40]!r}")
    try:
        status = int(rest[:3])
    except ValueError:
        raise ResponseError(f"bad status line: {head[:40]!r}") from None
    lower = head.lower()
    at = lower.find(CONTENT_LENGTH)
    if at >= 0:
        start = at + len(CONTENT_LENGTH)
        end = lower.find(b"\r\n", start)
        try:
            length = int(lower[start : end if end >= 0 else len(lower)])
        except ValueError:
            raise ResponseError("bad Content-Length") from None
    elif status in NO_BODY_STATUSES or 100 <= status < 200:
        length = 0
    else:
        raise ResponseError("response without Content-Length")
    close = b"\r\nconnection: close" in lower or (
        version == b"HTTP/1.0" and b"\r\nconnection: keep-alive" not in lower
    )
    return status, length, close


class Connection(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.loop, self.timeout = loop, timeout
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.waiter: asyncio.Future[int] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.status = 0
        self.remaining = -1  # body bytes still to come; -1 while the head is incomplete
        self.close_after = False
        self.usable = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's do not subclass it

    def connection_lost(self, exc: Exception | None) -> None:
        self.usable = False
        self._fail(ConnectionResetError("connection closed by the server"))

    def request(self, payload: bytes) -> asyncio.Future[int]:
        if not self.usable or self.transport is None or self.waiter is not None:
            raise ConnectionResetError("connection not usable")
        waiter: asyncio.Future[int] = self.loop.create_future()
        self.waiter = waiter
        self.remaining = -1
        self.timer = self.loop.call_later(self.timeout, self._timed_out)
        self.transport.write(payload)
        return waiter

    def data_received(self, data: bytes) -> None:
        if self.buffer:
            data = self.buffer + data
            self.buffer = b""
        if self.waiter is None:
            self._fail(ResponseError("data without a request"))
            return
        if self.remaining < 0:
            end = data.find(HEAD_END)
            if end < 0:
                self.buffer = data
                return
            try:
                self.status, self.remaining, self.close_after = parse_head(data[:end])
            except ResponseError as exc:
                self._fail(exc)
                return
            data = data[end + len(HEAD_END) :]
        if len(data) < self.remaining:
            self.remaining -= len(data)
            return
        if len(data) > self.remaining:
            self._fail(ResponseError("data after the response"))
            return
        self._complete()

    def _complete(self) -> None:
        waiter, self.waiter = self.waiter, None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.close_after:
            self.close()
        if waiter is not None and not waiter.done():
            waiter.set_result(self.status)

    def _timed_out(self) -> None:
        self.timer = None
        self._fail(TimeoutError("no response in time"))

    def _fail(self, exc: Exception) -> None:
        waiter, self.waiter = self.waiter, None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.close()
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def close(self) -> None:
        self.usable = False
        if self.transport is not None:
            self.transport.close()


class WebhookClient:
    """Signed webhook posts to one path of one server, over a pool of keep-alive connections.

    At most ``limit`` requests are in flight, so the pool never holds more than ``limit``
    connections; ``timeout`` bounds the wait for each response.
    """

    def __init__(
        self, host: str, port: int, path: str, secret: bytes, limit: int, timeout: float = 30.0
    ) -> None:
        self.host, self.port, self.secret, self.timeout = host, port, secret, timeout
        self.slots = asyncio.Semaphore(limit)
        self.prefix = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Content-Type: application/json\r\nX-Hub-Signature-256: sha256="
        ).encode()
        self.idle: list[Connection] = []

    async def post(self, body: bytes) -> int:
        """Post ``body`` signed with the secret; the response's status code."""
        digest = hmac.digest(self.secret, body, hashlib.sha256).hex().encode()
        payload = b"%s%s\r\nContent-Length: %d\r\n\r\n%s" % (self.prefix, digest, len(body), body)
        async with self.slots:
            conn = self.idle.pop() if self.idle else None
            while conn is not None and not conn.usable:  # closed by the server while idle
                conn = self.idle.pop() if self.idle else None
            if conn is None:
                conn = await self._connect()
            try:
                status = await conn.request(payload)
            except BaseException:
                conn.close()
                raise
            if conn.usable:
                self.idle.append(conn)
            return status

    async def _connect(self) -> Connection:
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(
            lambda: Connection(loop, self.timeout), self.host, self.port
        )
        return conn

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()
