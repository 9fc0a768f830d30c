"""Script calls made in one pass of the event loop go to Redis together.

Under load, many tasks become ready in the same pass of the event loop (the webhooks that
arrived together, the deliveries of one read from the broker) and each runs a store script:
the inbound rate limit, the filing, an outbound filing. Sent one by one, every call takes a
connection from the pool, writes, waits and reads on its own, and wakes Redis for itself.
``ScriptBatcher`` collects the calls of one pass and sends them as one pipeline (not a
transaction: each script is atomic on its own, as before) on one connection: one write, one
read, one wake-up of Redis for all of them. Measured with 64 tasks calling the rate-limit
script, that is about 12 instead of 30 µs of the client's CPU and 7 instead of 17 µs of
Redis' per call.

Each caller gets its own script's answer or error, as if it had called alone:

* a script error (a Lua error, a key of the wrong type) fails only its own call;
* a script Redis no longer knows (``NOSCRIPT``: Redis restarted, or ``SCRIPT FLUSH``) did not
  run; that call is made again on its own, which loads the script first, as redis-py's
  ``Script`` does;
* a connection error or timeout fails every call of the batch, as it would have failed
  each of them (whether a script ran is then unknown, as it is for a single call);
* a caller cancelled before its batch is sent is left out of it (its script never runs);
  one cancelled after that leaves the batch to finish for the others.

A lone call is made as it would be without batching. An in-process store (``memory://``,
whose scripts run as Python with no round trip to save) is not batched at all.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

from router.store.memory import MemoryRedis

if TYPE_CHECKING:
    from redis.commands.core import AsyncScript

log = logging.getLogger(__name__)
Arg = str | int | float


@dataclass(frozen=True)
class _Call:
    script: AsyncScript
    keys: Sequence[str]
    args: Sequence[Arg]
    answer: asyncio.Future[Any] = field(compare=False)


class BatchedScript:
    """A registered script whose calls are batched by their ``ScriptBatcher``."""

    def __init__(self, batcher: ScriptBatcher, script: AsyncScript) -> None:
        self._batcher = batcher
        self.script = script

    async def __call__(self, keys: Sequence[str] = (), args: Sequence[Arg] = ()) -> Any:
        """The script's answer (redis-py's ``RedisError`` subclasses as they would be)."""
        return await self._batcher.call(self.script, keys, args)


class ScriptBatcher:
    """Batches the script calls of one event-loop pass on ``client`` (see the module)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        # In process there is no round trip to share: every call is made at once.
        self.enabled = not isinstance(client, MemoryRedis)
        self._pending: list[_Call] = []
        self._running: set[asyncio.Task[None]] = set()

    def register(self, source: str) -> BatchedScript:
        return BatchedScript(self, self.client.register_script(source))

    async def call(self, script: AsyncScript, keys: Sequence[str], args: Sequence[Arg]) -> Any:
        if not self.enabled:
            return await script(keys=list(keys), args=list(args))
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Any] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append(_Call(script, keys, args, answer))
        return await answer

    def _flush(self) -> None:
        calls = [c for c in self._pending if not c.answer.done()]  # done: cancelled
        self._pending = []
        if not calls:
            return
        task = asyncio.get_running_loop().create_task(self._send(calls))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _send(self, calls: list[_Call]) -> None:
        try:
            if len(calls) == 1:
                await self._alone(calls[0])
            else:
                await self._together(calls)
        except asyncio.CancelledError:  # the loop is stopping: so are the callers
            for c in calls:
                c.answer.cancel()
            raise
        except Exception:  # never expected: no caller may be left waiting
            log.exception("store script batch failed")
            for c in calls:
                _settle(c, exc=RedisError("store script batch failed"))

    async def _together(self, calls: list[_Call]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for c in calls:
            pipe.execute_command("EVALSHA", c.script.sha, len(c.keys), *c.keys, *c.args)
        try:
            replies = await pipe.execute(raise_on_error=False)
        except Exception as exc:  # the connection failed: so did every call of it
            for c in calls:
                _settle(c, exc=_own(exc))
            return
        unknown = []
        for c, reply in zip(calls, replies, strict=True):
            if isinstance(reply, NoScriptError):
                unknown.append(c)
            elif isinstance(reply, Exception):
                _settle(c, exc=reply)
            else:
                _settle(c, reply)
        if unknown:  # not run: each again on its own, which loads the script first
            await asyncio.gather(*(self._alone(c) for c in unknown))

    @staticmethod
    async def _alone(c: _Call) -> None:
        try:
            reply = await c.script(keys=list(c.keys), args=list(c.args))
        except Exception as exc:
            _settle(c, exc=exc)
        else:
            _settle(c, reply)


def _own(exc: Exception) -> Exception:
    """A copy of ``exc`` for one caller (one exception raised in many tasks would collect
    all their tracebacks)."""
    try:
        own = copy.copy(exc)
    except Exception:
        return exc
    own.__cause__ = exc.__cause__
    return own


def _settle(c: _Call, reply: Any = None, *, exc: BaseException | None = None) -> None:
    if c.answer.done():  # its caller was cancelled meanwhile
        return
    if exc is not None:
        c.answer.set_exception(exc)
    else:
        c.answer.set_result(reply)
