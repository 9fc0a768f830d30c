"""Strict per-key order with concurrency across keys.

A partition consumer starts one handler per delivery, in delivery order. Each handler's first
``await`` is ``KeyedSerializer.run(key, work)``; work for one key then runs one at a time in
that order, while different keys run concurrently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class KeyedSerializer:
    def __init__(self) -> None:
        self._tails: dict[str, asyncio.Future[None]] = {}

    async def run(self, key: str, work: Callable[[], Awaitable[T]]) -> T:
        """Run ``work`` after everything already scheduled for ``key``.

        The key's turn is taken when the coroutine starts, so callers await it directly
        (no task of its own: the work runs in the caller's task)."""
        previous = self._tails.get(key)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tails[key] = done
        try:
            if previous is not None:
                await asyncio.shield(previous)
            return await work()
        finally:
            done.set_result(None)
            if self._tails.get(key) is done:
                del self._tails[key]
