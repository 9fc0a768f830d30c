"""``MemoryRedis``: a ``redis.asyncio.Redis`` whose commands run on an in-process
``Keyspace`` (no socket, no RESP), with redis-py's own response callbacks so every method
answers what it answers against a server with ``decode_responses=True``; plus pipelines
(MULTI/EXEC with WATCH), pub/sub and ``lock()``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis._parsers.base import BaseParser
from redis._parsers.encoders import Encoder
from redis.asyncio.client import CommandStackT, Pipeline
from redis.client import EMPTY_RESPONSE, NEVER_DECODE
from redis.exceptions import ExecAbortError, ResponseError, WatchError

from router.store.memory.keyspace import Keyspace

_Callback = Callable[..., Any]
_Message = dict[str, Any]


_ENCODER = Encoder("utf-8", "strict", False)  # type: ignore[no-untyped-call]


def _encode(value: object) -> str:
    """A command word as redis-py sends it to a server (its ``Encoder``), as text; strings and
    numbers, the common words, without the round trip through bytes."""
    if type(value) is str:
        return value
    if type(value) is int or type(value) is float:
        return repr(value)
    return bytes(_ENCODER.encode(value)).decode("utf-8")  # type: ignore[no-untyped-call]


def _words(args: Sequence[object]) -> list[str]:
    """A command's words as a server receives them (redis-py's encoding, decoded)."""
    words = [a if type(a) is str else _encode(a) for a in args]
    if " " in words[0]:
        words[0:1] = words[0].split()
    return words


def server_error(exc: ResponseError) -> ResponseError:
    """The exception redis-py raises for the error reply ``exc`` carries."""
    error: ResponseError = BaseParser.parse_error(str(exc.args[0]))  # type: ignore[no-untyped-call]
    return error


class MemoryRedis(aioredis.Redis):
    """An async Redis client on an in-process keyspace. Replies are always decoded
    (``decode_responses=True``); ``keyspace`` lets several clients share one database."""

    def __init__(self, *, keyspace: Keyspace | None = None, **kwargs: Any) -> None:
        kwargs["decode_responses"] = True
        # The keyspace answers RESP2 shapes: use the RESP2 callbacks.
        kwargs["protocol"] = 2
        super().__init__(**kwargs)
        self.keyspace = keyspace if keyspace is not None else Keyspace()
        self._callbacks: dict[str, _Callback | None] = {}

    def __repr__(self) -> str:
        return f"<{type(self).__module__}.{type(self).__name__}>"

    def set_response_callback(self, command: str, callback: _Callback) -> None:
        super().set_response_callback(command, callback)
        self._callbacks.clear()

    def _callback(self, name: str) -> _Callback | None:
        try:
            return self._callbacks[name]
        except KeyError:
            found = self.response_callbacks.get(name)
            self._callbacks[name] = found
            return found

    def run(self, args: Sequence[object], options: dict[str, Any]) -> Any:
        """Run one command (redis-py's ``execute_command`` arguments) and parse its reply."""
        try:
            reply = self.keyspace.execute(_words(args))
        except ResponseError as exc:
            if EMPTY_RESPONSE in options:
                return options[EMPTY_RESPONSE]
            raise server_error(exc) from None
        callback = self._callback(args[0])  # type: ignore[arg-type]
        if callback is None:
            return reply
        if options:
            options.pop(EMPTY_RESPONSE, None)
            options.pop(NEVER_DECODE, None)
            options.pop("keys", None)
        return callback(reply, **options)

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        return self.run(args, options)

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> Pipeline:
        return MemoryPipeline(self, transaction)

    def pubsub(self, **kwargs: Any) -> MemoryPubSub:  # type: ignore[override]
        return MemoryPubSub(self.keyspace, **kwargs)


class MemoryPipeline(Pipeline):
    """Commands queued and run on ``execute``; a transaction runs them at once (nothing
    else runs in between) unless a watched key changed since ``watch`` (``WatchError``)."""

    def __init__(self, client: MemoryRedis, transaction: bool) -> None:
        super().__init__(client.connection_pool, client.response_callbacks, transaction, None)
        self._client = client
        self._watched: dict[str, int] = {}

    def _watch(self, keys: Iterable[str]) -> None:
        keyspace = self._client.keyspace
        counts = keyspace.watch_counts
        for key in keys:
            if key in self._watched:
                continue
            counts[key] = counts.get(key, 0) + 1
            self._watched[key] = keyspace.version(key)
        self.watching = True

    def _unwatch(self) -> None:
        keyspace = self._client.keyspace
        counts = keyspace.watch_counts
        for key in self._watched:
            left = counts[key] - 1
            if left:
                counts[key] = left
            else:
                del counts[key]
                keyspace.versions.pop(key, None)
        self._watched.clear()
        self.watching = False

    def _changed(self) -> bool:
        keyspace = self._client.keyspace
        return any(keyspace.version(key) != seen for key, seen in self._watched.items())

    async def immediate_execute_command(self, *args: Any, **options: Any) -> Any:
        name = str(args[0]).upper()
        if name == "WATCH":
            if len(args) < 2:
                raise ResponseError("ERR wrong number of arguments for 'watch' command")
            self._watch(_words(args)[1:])
            return True
        if name in ("UNWATCH", "DISCARD"):
            self._unwatch()
            return True
        return self._client.run(args, options)

    async def reset(self) -> None:  # type: ignore[override]
        self.command_stack = []
        self.scripts = set()
        self._unwatch()
        self.explicit_transaction = False

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        stack = self.command_stack
        if not stack and not self.watching:
            return []
        try:
            for script in self.scripts:
                script.sha = self._client.run(("SCRIPT LOAD", script.script), {})
            if self.is_transaction or self.explicit_transaction:
                return self._transaction(stack, raise_on_error)
            return self._pipeline(stack, raise_on_error)
        finally:
            await self.reset()

    def _transaction(self, stack: CommandStackT, raise_on_error: bool) -> list[Any]:
        keyspace = self._client.keyspace
        for number, (args, _) in enumerate(stack, start=1):
            try:
                keyspace.check(_words(args))
            except ResponseError as exc:
                error = server_error(exc)
                self.annotate_exception(error, number, args)
                raise error from ExecAbortError(
                    "EXECABORT Transaction discarded because of previous errors."
                )
        if self._changed():
            raise WatchError("Watched variable changed.")
        return self._pipeline(stack, raise_on_error)

    def _pipeline(self, stack: CommandStackT, raise_on_error: bool) -> list[Any]:
        run = self._client.run
        response: list[Any] = []
        for args, options in stack:
            try:
                response.append(run(args, dict(options)))
            except ResponseError as exc:
                response.append(exc)
        if raise_on_error:
            self.raise_first_error(stack, response)
        return response


class MemoryPubSub:
    """A pub/sub connection on a ``Keyspace``: what redis-py's ``PubSub`` offers for
    channels (subscribe, unsubscribe, get_message, listen, aclose)."""

    def __init__(
        self, keyspace: Keyspace, ignore_subscribe_messages: bool = False, **_: Any
    ) -> None:
        self._keyspace = keyspace
        self.ignore_subscribe_messages = ignore_subscribe_messages
        self.channels: dict[str, _Callback | None] = {}
        self._queue: asyncio.Queue[_Message] = asyncio.Queue()

    @property
    def subscribed(self) -> bool:
        return bool(self.channels)

    def deliver(self, channel: str, data: str) -> None:
        self._queue.put_nowait(
            {"type": "message", "pattern": None, "channel": channel, "data": data}
        )

    def _confirm(self, kind: str, channel: str) -> None:
        self._queue.put_nowait(
            {"type": kind, "pattern": None, "channel": channel, "data": len(self.channels)}
        )

    async def subscribe(self, *args: Any, **handlers: _Callback) -> None:
        wanted: dict[str, _Callback | None] = {}
        for arg in args:
            for channel in [arg] if isinstance(arg, (str, bytes)) else arg:
                wanted[_encode(channel)] = None
        wanted.update(handlers)
        for channel, handler in wanted.items():
            self.channels[channel] = handler
            self._keyspace.subscribe(channel, self)
            self._confirm("subscribe", channel)

    async def unsubscribe(self, *args: Any) -> None:
        channels = [_encode(c) for c in args] if args else list(self.channels)
        for channel in channels:
            self.channels.pop(channel, None)
            self._keyspace.unsubscribe(channel, self)
            self._confirm("unsubscribe", channel)

    def _handle(self, message: _Message, ignore_subscribe_messages: bool) -> _Message | None:
        if message["type"] != "message":
            if ignore_subscribe_messages or self.ignore_subscribe_messages:
                return None
            return message
        handler = self.channels.get(message["channel"])
        if handler is not None:
            handler(message)
            return None
        return message

    async def get_message(
        self,
        ignore_subscribe_messages: bool = False,
        timeout: float | None = 0.0,  # noqa: ASYNC109 - redis-py's signature
    ) -> _Message | None:
        """The next message, waiting up to ``timeout`` seconds (``None``: no limit);
        ``None`` when none came or the one that came is not returned (ignored, handled)."""
        if self._queue.empty():
            if timeout is not None and timeout <= 0:
                return None
            try:
                message = await asyncio.wait_for(self._queue.get(), timeout)
            except TimeoutError:
                return None
        else:
            message = self._queue.get_nowait()
        return self._handle(message, ignore_subscribe_messages)

    async def listen(self) -> AsyncIterator[_Message]:
        while self.channels or not self._queue.empty():
            message = self._handle(await self._queue.get(), False)
            if message is not None:
                yield message

    async def aclose(self) -> None:
        for channel in list(self.channels):
            self._keyspace.unsubscribe(channel, self)
        self.channels.clear()
        self._queue = asyncio.Queue()

    async def reset(self) -> None:
        await self.aclose()

    async def close(self) -> None:
        await self.aclose()

    async def __aenter__(self) -> MemoryPubSub:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
