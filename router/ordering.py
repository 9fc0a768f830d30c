"""Strict per-key order with concurrency across keys.

A partition consumer starts one handler per delivery, in delivery order. Each handler calls
``KeyedSerializer.run(key, work)`` before its first ``await``; work for one key then runs
one at a time in that order, while different keys run concurrently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class KeyedSerializer:
    def __init__(self) -> None:
        self._tails: dict[str, asyncio.Future[None]] = {}

    def run(self, key: str, work: Callable[[], Awaitable[T]]) -> asyncio.Future[T]:
        """Schedule ``work`` after everything already scheduled for ``key``."""
        previous = self._tails.get(key)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._tails[key] = done

        async def chained() -> T:
            try:
                if previous is not None:
                    await asyncio.shield(previous)
                return await work()
            finally:
                done.set_result(None)
                if self._tails.get(key) is done:
                    del self._tails[key]

        return asyncio.ensure_future(chained())
