"""Optimistic transactions: read under ``WATCH``, write in ``MULTI``/``EXEC``, and start again
when a watched key changed in between (the writes then did not happen).

The same code runs on Redis and on the in-process store (``router.store.memory``), whose
pipelines implement ``WATCH`` the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.exceptions import WatchError

T = TypeVar("T")


@dataclass(frozen=True)
class Requirement:
    """Something else in the store a write depends on (e.g. that its media stream is not
    deleted): ``keys`` are watched with the write's own keys, and ``check`` runs after the
    watch, raising when the write may not happen. A change to those keys before the write
    makes the write read and check again."""

    keys: tuple[str, ...]
    check: Callable[[], Awaitable[None]]


async def watched(
    client: aioredis.Redis, keys: Sequence[str], attempt: Callable[[Pipeline], Awaitable[T]],
    *, requires: Requirement | None = None,
) -> T:  # fmt: skip
    """``attempt(pipe)`` with ``keys`` watched, again until no watched key changed before
    its ``EXEC``. ``requires``: its keys are watched too, and its check runs before each
    attempt (raising ends the loop, nothing written).

    ``attempt`` reads through ``pipe`` (commands run at once while watching), decides, then
    calls ``pipe.multi()``, queues its writes and runs them with ``pipe.execute()``; what it
    returns is the answer. An exception it raises (a failed comparison) ends the loop, with
    nothing written. Another writer on a watched key (even of a part this attempt does not
    read) costs one more attempt, which reads and decides again.
    """
    if requires is not None:
        keys = [*keys, *requires.keys]
    async with client.pipeline(transaction=True) as pipe:
        while True:
            try:
                await pipe.watch(*keys)
                if requires is not None:
                    await requires.check()
                return await attempt(pipe)
            except WatchError:
                continue
            finally:
                await pipe.reset()  # type: ignore[no-untyped-call]
